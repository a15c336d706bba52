"""``batch-emulator``: the command line, mirroring ``az ml`` (the ``ml`` word is optional)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emulator import __version__
from emulator.cli import assets, endpoints
from emulator.cli.common import az_command, expand_multi_value_options, open_service
from emulator.exceptions import EmulatorError, JobFailedError
from emulator.model.specs import parse_set_item

INTERRUPTED = 130  # the shell's exit code for Ctrl+C
DEMO_WORKSPACE = "demo"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="batch-emulator")
def cli() -> None:
    """Run Azure ML batch endpoints locally, on Dask, with Azure's semantics.

    Commands mirror 'az ml': alias az=batch-emulator runs Azure ML scripts unchanged.
    """


@cli.group("ml")
def ml() -> None:
    """Azure ML commands (the same as without 'ml')."""


ML_GROUPS = [endpoints.batch_endpoint, endpoints.batch_deployment, endpoints.job, assets.model,
             assets.data, assets.environment, assets.compute, assets.datastore]
for group in ML_GROUPS:
    cli.add_command(group)
    ml.add_command(group)

account = click.Group("account", help="Access tokens, as 'az account'.")
cli.add_command(account)


@az_command(account, "get-access-token")
@click.option("--resource", help="Audience, e.g. https://ml.azure.com.")
@click.option("--scope", help="Scope, e.g. https://ml.azure.com/.default.")
def account_get_access_token(service, resource, scope):
    """Issue a signed, expiring token for --resource (default https://management.azure.com)."""
    if scope and not resource:
        resource = scope.removesuffix("/.default")
    return service.get_access_token(resource)


@az_command(account, "show")
def account_show(service):
    """Show the (local) account."""
    return service.show_account()


@az_command(cli, "configure")
@click.option("--defaults", "-d", "defaults", multiple=True, metavar="NAME=VALUE",
              help="Set defaults: group, workspace, location, environment_mode, "
                   "requirements_overrides (an empty value removes one).")
@click.option("--list-defaults", "-l", is_flag=True, help="List the defaults.")
@click.option("--scope", type=click.Choice(["global", "local"]), default="global",
              help="Accepted for az compatibility.")
def configure(service, defaults, list_defaults, scope):
    """Set or list defaults, as 'az configure'."""
    values = service.set_defaults(list(defaults)) if defaults else service.list_defaults()
    if list_defaults or not defaults:
        return values
    return None


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; beyond loopback only with --allow-remote.")
@click.option("--allow-remote", is_flag=True,
              help="Allow --host beyond loopback: anyone who reaches the port and has a token "
                   "can run code here; without --azure-compatible tokens travel unencrypted.")
@click.option("--port", default=8790, show_default=True, type=int, help="0 picks a free port.")
@click.option("--workspace-name", "-w", help="Workspace whose endpoints the data plane serves.")
@click.option("--azure-compatible", is_flag=True,
              help="HTTPS with a local CA and the cloud metadata Azure's SDK needs; prints the "
                   "environment to export. Starts Azurite as the workspace blob store.")
@click.option("--no-azurite", is_flag=True,
              help="With --azure-compatible: keep workspaceblobstore a local folder (SDK uploads "
                   "and jobs.download then do not work).")
def serve(host: str, allow_remote: bool, port: int, workspace_name: str | None,
          azure_compatible: bool, no_azurite: bool) -> None:
    """Serve the REST API (ARM control plane and endpoint data plane) over this home."""
    from emulator.server.run import serve as run_server  # the optional 'server' extra

    run_server(host, port, workspace_name, azure_compatible,
               with_azurite=azure_compatible and not no_azurite, allow_remote=allow_remote)


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--kind", type=click.Choice(["batch_endpoint", "batch_deployment", "model",
                                           "environment", "data", "compute", "datastore"]),
              help="Validate as this kind instead of detecting it.")
def validate(files, kind):
    """Check YAML files against the schemas; print every error as file:line: path: message."""
    from emulator.model.validation import validate_files  # no engine: validate stays fast

    errors = validate_files(list(files), kind)
    for error in errors:
        click.echo(error, err=True)
    if errors:
        sys.exit(2)
    click.echo(f"{len(files)} file(s) valid")


@cli.command("run")
@click.option("--file", "-f", "file", required=True, type=click.Path(dir_okay=False),
              help="Deployment YAML (type: model + settings:, or the flat layout).")
@click.option("--input", "-i", "input_", required=True, help="Input folder, file or URI.")
@click.option("--output-path", help="Output folder (default: the workspace's blob datastore).")
@click.option("--job-name", help="Job name (default batchjob-<uuid>).")
@click.option("--mini-batch-size", type=int)
@click.option("--instance-count", type=int)
@click.option("--set", "set_values", multiple=True,
              help="Invoke override PATH=VALUE, e.g. retry_settings.timeout=10.")
@click.option("--scheduler-address", help="Run on an existing Dask scheduler (tcp://host:port).")
@click.option("--workspace-name", "-w", help="Workspace the job is recorded in.")
def run_command(file, input_, output_path, job_name, mini_batch_size, instance_count,
                set_values, scheduler_address, workspace_name) -> None:
    """Run a deployment YAML on an input in this process, without endpoints, and wait."""
    overrides = dict(parse_set_item(item) for item in set_values)
    job = open_service(workspace=workspace_name).start_job(
        file, input_, output_path=output_path, job_name=job_name,
        mini_batch_size=mini_batch_size, instance_count=instance_count, overrides=overrides,
        scheduler_address=scheduler_address).wait()
    click.echo(json.dumps(job.to_dict(), indent=2, default=str))
    if job.status != "Completed":
        raise JobFailedError(f"job {job.name} {job.status}: {job.error}")


@cli.command("demo")
@click.option("--home", type=click.Path(file_okay=False),
              help="Emulator home (default: $BATCH_EMULATOR_HOME, else ~/.batch-emulator).")
def demo_command(home: str | None) -> None:
    """Score the bundled demo data with the bundled deployment and show predictions.csv.

    The job runs in the home's workspace 'demo', so 'job list -w demo' shows it."""
    demo = Path(__file__).resolve().parents[1] / "demo"
    click.echo(f"deployment: {demo / 'deployment.yml'}\ninput:      {demo / 'data'}")
    service = open_service(home=home, workspace=DEMO_WORKSPACE)
    job = service.start_job(demo / "deployment.yml", demo / "data").wait()
    click.echo(f"job {job.name}: {job.status}; {job.files_succeeded} of {job.files_total} "
               f"files succeeded in {job.mini_batches_total} mini-batches")
    click.echo(f"logs:       {job.job_folder}/logs")
    if job.status != "Completed":
        raise JobFailedError(f"job {job.name} {job.status}: {job.error}")
    click.echo(f"results:    {job.output_file}\n")
    lines = Path(job.output_file).read_text(encoding="utf-8").splitlines()
    for line in lines[:10]:
        click.echo(f"  {line}")
    if len(lines) > 10:
        click.echo(f"  ... {len(lines) - 10} more rows")
    click.echo(f"\nsee it again: batch-emulator ml job show -w {DEMO_WORKSPACE} --name {job.name}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error becomes one line on stderr and a non-zero exit code."""
    argv = expand_multi_value_options(list(sys.argv[1:] if argv is None else argv)) or ["--help"]
    debug = "--debug" in argv
    try:
        code = cli.main(argv, prog_name="batch-emulator", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except EmulatorError as exc:
        if debug:
            raise
        click.echo(f"ERROR: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("ERROR: aborted", err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        if debug:
            raise
        context = f" (in '{exc.ctx.command_path}')" if getattr(exc, "ctx", None) else ""
        click.echo(f"ERROR: {exc.format_message()}{context}", err=True)
        sys.exit(exc.exit_code)
    except TimeoutError as exc:  # a wait ran out: the job did not end as asked
        click.echo(f"ERROR: {exc}", err=True)
        sys.exit(JobFailedError.exit_code)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
