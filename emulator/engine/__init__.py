"""The job engine: partition inputs, run mini-batches on Dask, write Azure's outputs and logs.

It knows nothing about how a job was requested: callers hand it a ``JobPlan``.
"""
