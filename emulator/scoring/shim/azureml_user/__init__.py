"""Stand-in for the ``azureml_user`` package Azure puts on a scoring process's path."""
