"""``batch-emulator``: the command line, mirroring ``az ml`` (the ``ml`` word is optional)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from emulator import __version__
from emulator.cli import assets, endpoints, pipelines, progress
from emulator.cli.common import (
    AzCommand,
    Failed,
    az_command,
    expand_multi_value_options,
    open_service,
    output_options,
)
from emulator.cli.output import render
from emulator.exceptions import EmulatorError, JobFailedError, ResourceNotFoundError
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
             assets.data, assets.environment, assets.compute, assets.datastore,
             pipelines.component]
for group in ML_GROUPS:
    cli.add_command(group)
    ml.add_command(group)

account = click.Group("account", help="The (local) account and its tokens, as 'az account'.")
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


@az_command(account, "list")
@click.option("--all", "all_", is_flag=True, help="Accepted for az compatibility.")
def account_list(service, all_):
    """List the (local) account's subscriptions: one."""
    return [service.show_account()]


@az_command(account, "set", own=("subscription",))
@click.option("--name", "-n", "--subscription", "-s", "subscription", required=True,
              help="Subscription id (or name) that resource ids carry from now on.")
def account_set(service, subscription):
    """Set the subscription, as 'az account set' (kept in the home's defaults)."""
    service.set_subscription(subscription)


@az_command(cli, "login")
@click.option("--tenant", "-t", help="Accepted for az compatibility.")
@click.option("--username", "-u", help="Accepted for az compatibility.")
@click.option("--password", "-p", help="Accepted for az compatibility.")
@click.option("--service-principal", is_flag=True, help="Accepted for az compatibility.")
@click.option("--identity", is_flag=True, help="Accepted for az compatibility.")
@click.option("--use-device-code", is_flag=True, help="Accepted for az compatibility.")
@click.option("--allow-no-subscriptions", is_flag=True, help="Accepted for az compatibility.")
@click.option("--federated-token", help="Accepted for az compatibility.")
def login(service, **_credentials):
    """Succeed at once: the emulator needs no login; lists the account as 'az login' does."""
    return [service.show_account()]


@az_command(cli, "logout")
@click.option("--username", help="Accepted for az compatibility.")
def logout(service, username):
    """Succeed at once (nothing to forget)."""


extension = click.Group("extension", help="Extensions, as 'az extension': 'ml' is built in.")
cli.add_command(extension)
ML_EXTENSION = {"name": "ml", "version": __version__, "extensionType": "whl",
                "experimental": False, "preview": False, "path": "(built into batch-emulator)"}


def _extension_names(service, name: str | None, source: str | None) -> None:
    if (name or "").lower() not in ("ml", "") or source:
        service.warnings.append(f"extension {name or source!r} is not provided by the emulator: "
                                "only 'ml' is, built in; nothing was installed")


@az_command(extension, "add")
@click.option("--name", "-n", help="Extension name: ml.")
@click.option("--source", "-s", help="Accepted; nothing is installed.")
@click.option("--version", help="Accepted; nothing is installed.")
@click.option("--upgrade", is_flag=True, help="Accepted for az compatibility.")
@click.option("--yes", "-y", is_flag=True, help="Accepted for az compatibility.")
@click.option("--allow-preview", help="Accepted for az compatibility.")
def extension_add(service, name, source, version, upgrade, yes, allow_preview):
    """Succeed: the ml extension is built in."""
    _extension_names(service, name, source)


@az_command(extension, "update")
@click.option("--name", "-n", required=True)
@click.option("--allow-preview", help="Accepted for az compatibility.")
def extension_update(service, name, allow_preview):
    """Succeed: the ml extension is built in and current."""
    _extension_names(service, name, None)


@az_command(extension, "remove")
@click.option("--name", "-n", required=True)
@click.option("--yes", "-y", is_flag=True)
def extension_remove(service, name, yes):
    """Succeed without removing anything: the ml extension is built in."""
    _extension_names(service, name, None)


@az_command(extension, "list")
def extension_list(service):
    """List the extensions: ml, built in."""
    return [ML_EXTENSION]


@az_command(extension, "show")
@click.option("--name", "-n", required=True)
def extension_show(service, name):
    """Show the ml extension."""
    if name.lower() != "ml":
        raise ResourceNotFoundError(f"extension {name!r} is not installed; the emulator "
                                    "provides 'ml' only")
    return ML_EXTENSION


workspace = click.Group("workspace", help="The home's workspaces (one folder each).")


@az_command(workspace, "show")
@click.option("--name", "-n", help="Workspace name (default: -w, the configured one, else "
                                   "'default').")
def workspace_show(service, name):
    """Show a workspace of the home."""
    return (open_service(workspace=name) if name else service).show_workspace()


@az_command(workspace, "list")
def workspace_list(service):
    """List the home's workspaces."""
    return service.list_workspaces()


for group in (workspace,):
    cli.add_command(group)
    ml.add_command(group)


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


@cli.command("validate", cls=AzCommand)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--kind", type=click.Choice(["batch_endpoint", "batch_deployment", "model",
                                           "environment", "data", "compute", "datastore",
                                           "component", "pipeline_job",
                                           "pipeline_deployment"]),
              help="Validate as this kind instead of detecting it.")
@output_options
def validate(files, kind, output, query):
    """Check YAML files against the schemas; print every error as file:line: path: message."""
    from emulator.model.validation import validate_files  # no engine: validate stays fast

    errors = validate_files(list(files), kind)
    for error in errors:
        click.echo(error, err=True)
    if output:
        render({"files": list(files), "valid": not errors, "errors": errors}, output, query)
    elif not errors:
        click.echo(f"{len(files)} file(s) valid")
    if errors:
        sys.exit(2)


@az_command(cli, "run")
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
def run_command(service, file, input_, output_path, job_name, mini_batch_size, instance_count,
                set_values, scheduler_address):
    """Run a deployment YAML on an input in this process, without endpoints, and wait.

    Progress goes to stderr; the job's document (az's 'job show') to stdout."""
    overrides = dict(parse_set_item(item) for item in set_values)
    handle = service.start_job(
        file, input_, output_path=output_path, job_name=job_name,
        mini_batch_size=mini_batch_size, instance_count=instance_count, overrides=overrides,
        scheduler_address=scheduler_address)
    record = progress.follow(service, handle.name, sys.stderr)
    handle.wait()
    document = service.show_job(handle.name)
    if record.status != "Completed":
        return Failed(document, JobFailedError(f"job {record.name} {record.status}: "
                                               f"{record.error}"))
    return document


@cli.command("demo", cls=AzCommand)
@click.option("--home", type=click.Path(file_okay=False),
              help="Emulator home (default: $BATCH_EMULATOR_HOME, else ~/.batch-emulator).")
@output_options
def demo_command(home: str | None, output: str | None, query: str | None) -> None:
    """Score the bundled demo data with the bundled deployment and show predictions.csv.

    The job runs in the home's workspace 'demo', so 'job list -w demo' shows it."""
    demo = Path(__file__).resolve().parents[1] / "demo"
    say = click.echo if output is None else functools.partial(click.echo, err=True)
    say(f"deployment: {demo / 'deployment.yml'}\ninput:      {demo / 'data'}")
    service = open_service(home=home, workspace=DEMO_WORKSPACE)
    handle = service.start_job(demo / "deployment.yml", demo / "data")
    job = progress.follow(service, handle.name, sys.stderr,
                          log_lines=False)
    handle.wait()
    if output is not None:
        render(service.show_job(job.name), output, query)
    say(f"job {job.name}: {job.status}; {job.files_succeeded} of {job.files_total} "
        f"files succeeded in {job.mini_batches_total} mini-batches")
    say(f"logs:       {job.job_folder}/logs")
    if job.status != "Completed":
        raise JobFailedError(f"job {job.name} {job.status}: {job.error}")
    say(f"results:    {job.output_file}\n")
    lines = Path(job.output_file).read_text(encoding="utf-8").splitlines()
    for line in lines[:10]:
        say(f"  {line}")
    if len(lines) > 10:
        say(f"  ... {len(lines) - 10} more rows")
    say(f"\nsee it again: batch-emulator ml job show -w {DEMO_WORKSPACE} --name {job.name}")


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
