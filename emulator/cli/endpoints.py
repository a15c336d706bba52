"""``batch-endpoint``, ``batch-deployment`` and ``job``: thin wrappers over the service."""

from __future__ import annotations

import click

from emulator.cli import progress
from emulator.cli.common import az_command, set_option, update_options, words
from emulator.exceptions import JobFailedError, ValidationError

batch_endpoint = click.Group("batch-endpoint", help="Manage batch endpoints and invoke them.")
batch_deployment = click.Group("batch-deployment", help="Manage batch deployments.")
job = click.Group("job", help="Follow, download and cancel batch scoring jobs.")

DEFAULT_MAX_RESULTS = 50  # az ml job list's

name_option = click.option("--name", "-n", help="Name.")
required_name = click.option("--name", "-n", required=True, help="Name.")
endpoint_option = click.option("--endpoint-name", "-e", help="Endpoint name.")
no_wait = click.option("--no-wait", is_flag=True, help="Accepted; operations are immediate.")
yes = click.option("--yes", "-y", is_flag=True, help="Do not prompt for confirmation.")
file_option = click.option("--file", "-f", type=click.Path(dir_okay=False), help="YAML file.")


# ---------------------------------------------------------------------------- batch-endpoint


@az_command(batch_endpoint, "create")
@name_option
@file_option
@set_option()
@no_wait
def endpoint_create(service, name, file, set_values, no_wait):
    """Create a batch endpoint (or overwrite one of the same name)."""
    if not name and not file:
        raise ValidationError("pass --name or --file")
    return service.create_endpoint(name=name, file=file, set_values=set_values)


@az_command(batch_endpoint, "show")
@required_name
def endpoint_show(service, name):
    """Show a batch endpoint."""
    return service.show_endpoint(name)


@az_command(batch_endpoint, "list")
def endpoint_list(service):
    """List the batch endpoints of the workspace."""
    return service.list_endpoints()


@az_command(batch_endpoint, "update")
@required_name
@file_option
@update_options
@click.option("--defaults", multiple=True, metavar="KEY=VALUE",
              help="Endpoint defaults, e.g. deployment_name=blue.")
@no_wait
def endpoint_update(service, name, file, set_values, add, remove, force_string, defaults,
                    no_wait):
    """Update description, tags or defaults (e.g. --set defaults.deployment_name=X)."""
    pairs = {}
    for item in defaults:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"--defaults {item!r}: expected KEY=VALUE")
        pairs[key.strip()] = value
    return service.update_endpoint(name, file=file, set_values=set_values, defaults=pairs,
                                   add=words(add), remove=words(remove),
                                   force_string=force_string)


@az_command(batch_endpoint, "delete")
@required_name
@yes
@no_wait
def endpoint_delete(service, name, yes, no_wait):
    """Delete the endpoint and its deployments (its jobs are kept)."""
    service.delete_endpoint(name)


@az_command(batch_endpoint, "invoke")
@required_name
@click.option("--input", "-i", "input_", help="Folder, file or data URI to score.")
@click.option("--input-type", "-t", help="uri_folder or uri_file.")
@click.option("--input-path", help="Older form: folder:URI or file:URI.")
@click.option("--input-dataset", "--input-data", help="Older form: azureml:NAME:VERSION.")
@click.option("--input-local-path", help="Older form: a local folder.")
@click.option("--deployment-name", "-d", help="Deployment to use instead of the default.")
@click.option("--job-name", help="Job name (default batchjob-<uuid>).")
@click.option("--mini-batch-size", "-m", type=int, help="Files per run() call.")
@click.option("--instance-count", "-c", type=int, help="Instances for this job.")
@click.option("--output-path", help="azureml://datastores/<ds>/paths/<p> (or folder:...).")
@click.option("--experiment-name", help="Accepted for az compatibility.")
@click.option("--stream", is_flag=True, help="Follow the job's log until it ends.")
@file_option
@set_option("Overrides, e.g. output_file_name=x.csv retry_settings.timeout=60.")
@no_wait
def endpoint_invoke(service, name, input_, input_type, input_path, input_dataset,
                    input_local_path, deployment_name, job_name, mini_batch_size,
                    instance_count, output_path, experiment_name, stream, file, set_values,
                    no_wait):
    """Start a batch scoring job; it runs in the background."""
    service.invoke_deployment(name, deployment_name)  # no deployment: said before any input
    given = [v for v in (input_, input_path, input_dataset, input_local_path) if v]
    if len(given) > 1:
        raise ValidationError("pass one of --input, --input-path, --input-dataset, "
                              "--input-local-path")
    document = service.invoke(
        name, input=given[0] if given else None, input_type=input_type,
        deployment_name=deployment_name, job_name=job_name, mini_batch_size=mini_batch_size,
        instance_count=instance_count, output_path=output_path, set_values=set_values,
        inputs_file=file)
    if stream:
        stream_job(service, document["name"])
        return service.show_job(document["name"])
    return document


@az_command(batch_endpoint, "list-jobs")
@required_name
@click.option("--max-results", "-r", type=int, help="At most this many jobs.")
def endpoint_list_jobs(service, name, max_results):
    """List the jobs of an endpoint (deleted deployments' jobs included)."""
    return service.list_jobs(endpoint_name=name, max_results=max_results)


# ---------------------------------------------------------------------------- batch-deployment


@az_command(batch_deployment, "create")
@click.option("--file", "-f", type=click.Path(dir_okay=False), required=True,
              help="Deployment YAML.")
@name_option
@endpoint_option
@set_option()
@click.option("--set-default", is_flag=True, help="Make it the endpoint's default deployment.")
@click.option("--skip-script-validation", is_flag=True, help="Do not parse the scoring script.")
@click.option("--all-traffic", is_flag=True, hidden=True)
@no_wait
def deployment_create(service, file, name, endpoint_name, set_values, set_default,
                      skip_script_validation, all_traffic, no_wait):
    """Create a batch deployment from YAML, registering its model, code and environment."""
    return service.create_deployment(file, name=name, endpoint_name=endpoint_name,
                                     set_values=set_values,
                                     set_default=set_default or all_traffic,
                                     skip_script_validation=skip_script_validation)


@az_command(batch_deployment, "show")
@required_name
@click.option("--endpoint-name", "-e", required=True, help="Endpoint name.")
def deployment_show(service, name, endpoint_name):
    """Show a batch deployment."""
    return service.show_deployment(name, endpoint_name)


@az_command(batch_deployment, "list")
@click.option("--endpoint-name", "-e", required=True, help="Endpoint name.")
def deployment_list(service, endpoint_name):
    """List the deployments of an endpoint."""
    return service.list_deployments(endpoint_name)


@az_command(batch_deployment, "update")
@name_option
@endpoint_option
@file_option
@update_options
@click.option("--skip-script-validation", is_flag=True)
@no_wait
def deployment_update(service, name, endpoint_name, file, set_values, add, remove, force_string,
                      skip_script_validation, no_wait):
    """Update a deployment from YAML or with --set (e.g. settings.mini_batch_size=5)."""
    return service.update_deployment(name, endpoint_name, file=file, set_values=set_values,
                                     skip_script_validation=skip_script_validation,
                                     add=words(add), remove=words(remove),
                                     force_string=force_string)


@az_command(batch_deployment, "delete")
@required_name
@click.option("--endpoint-name", "-e", required=True, help="Endpoint name.")
@yes
@no_wait
def deployment_delete(service, name, endpoint_name, yes, no_wait):
    """Delete a deployment (its jobs are kept)."""
    service.delete_deployment(name, endpoint_name)


@az_command(batch_deployment, "list-jobs")
@required_name
@click.option("--endpoint-name", "-e", required=True, help="Endpoint name.")
@click.option("--max-results", "-r", type=int)
def deployment_list_jobs(service, name, endpoint_name, max_results):
    """List the jobs of a deployment."""
    return service.list_jobs(endpoint_name=endpoint_name, deployment_name=name,
                             max_results=max_results)


# ---------------------------------------------------------------------------- job


@az_command(job, "show")
@required_name
@click.option("--web", is_flag=True,
              help="Open the job's page in a browser (served by 'batch-emulator serve'; "
                   "without a server, the job's folder).")
def job_show(service, name, web):
    """Show a job (status, counts, output location, errors)."""
    document = service.show_job(name)
    if web:
        url = document["services"]["Studio"]["endpoint"]
        click.echo(url, err=True)
        # Imported here: only --web opens a browser, and reads stay fast.
        import webbrowser

        if not webbrowser.open(service.studio_sign_in(url)):
            click.echo("no browser found here: open the URL above in one", err=True)
    return document


@az_command(job, "list")
@click.option("--max-results", "-r", type=int, default=DEFAULT_MAX_RESULTS, show_default=True,
              help="At most this many jobs.")
@click.option("--all-results", is_flag=True, help="Every job (overrides --max-results).")
@click.option("--include-archived", is_flag=True, help="Archived jobs too.")
@click.option("--archived-only", is_flag=True, help="Only archived jobs.")
@click.option("--parent-job-name", "-p",
              help="The child jobs of this job (a batch job's: its scoring step).")
def job_list(service, max_results, all_results, include_archived, archived_only,
             parent_job_name):
    """List the workspace's jobs, newest first (archived ones with --include-archived)."""
    jobs = service.list_jobs(max_results=None if all_results or archived_only else max_results,
                             include_archived=include_archived or archived_only,
                             parent_job_name=parent_job_name)
    if archived_only:
        jobs = [job for job in jobs if job["is_archived"]][:None if all_results else max_results]
    return jobs


@az_command(job, "stream")
@required_name
def job_stream(service, name):
    """Follow a job until it ends (log lines and live progress); exit 0 only if it Completed."""
    stream_job(service, name)


@az_command(job, "archive")
@required_name
def job_archive(service, name):
    """Archive a job: 'job list' hides it (--include-archived shows it); nothing is deleted."""
    service.archive_job(name)


@az_command(job, "restore")
@required_name
def job_restore(service, name):
    """Restore an archived job."""
    service.restore_job(name)


@az_command(job, "update")
@required_name
@update_options
@click.option("--web", is_flag=True, hidden=True)
def job_update(service, name, set_values, add, remove, force_string, web):
    """Update a job's display_name, description, tags or (add only) properties."""
    return service.update_job(name, set_values, add=words(add), remove=words(remove),
                              force_string=force_string)


@az_command(job, "download")
@required_name
@click.option("--download-path", "-p", help="Folder to download into (default: here).")
@click.option("--output-name", help="The named output to download: score.")
@click.option("--all", "all_outputs", is_flag=True, help="Outputs and logs.")
def job_download(service, name, download_path, output_name, all_outputs):
    """Download a job's output to <path>/named-outputs/score/ (logs to artifacts/)."""
    result = service.download_job(name, download_path, output_name, all_outputs)
    for folder in result["downloaded"]:
        click.echo(f"Downloaded to {folder}", err=True)


@az_command(job, "cancel")
@required_name
@no_wait
def job_cancel(service, name, no_wait):
    """Cancel a job: running scoring processes are killed, no results file is left."""
    return service.cancel_job(name)


def stream_job(service, name: str) -> None:
    """Azure's stream header, then the job live (progress and log lines), then its summary."""
    document = service.show_job(name)
    click.echo(f"RunId: {name}\nWeb View: {document['services']['Studio']['endpoint']}\n")
    record = progress.follow(service, name)
    click.echo(f"\nExecution Summary\n=================\nRunId: {name}\nStatus: {record.status}")
    if record.error:
        click.echo(f"Error: {record.error}")
    if record.status != "Completed":
        raise JobFailedError(f"job {name} ended {record.status}")
