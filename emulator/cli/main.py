"""``batch-emulator``: the command line. Thin: parse, call one function, render."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from emulator import __version__
from emulator.exceptions import EmulatorError


class _Group(click.Group):
    """Turns every ``EmulatorError`` into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EmulatorError as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"ERROR: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(__version__, "--version", prog_name="batch-emulator")
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
def cli(debug: bool) -> None:
    """Run Azure ML batch endpoints locally, on Dask, with Azure's semantics."""


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
def run_command(file, input_, output_path, job_name, mini_batch_size, instance_count,
                set_values, scheduler_address) -> None:
    """Run a deployment YAML on an input and wait for the job to end."""
    from emulator.jobs import run_batch_job

    overrides = dict(_split_set(item) for item in set_values)
    job = run_batch_job(file, input_, output_path=output_path, job_name=job_name,
                        mini_batch_size=mini_batch_size, instance_count=instance_count,
                        overrides=overrides, scheduler_address=scheduler_address)
    click.echo(json.dumps(job.to_dict(), indent=2, default=str))
    if job.status != "Completed":
        click.echo(f"ERROR: job {job.name} {job.status}: {job.error}", err=True)
        sys.exit(5)


@cli.command("demo")
@click.option("--home", type=click.Path(file_okay=False),
              help="Emulator home for the demo (default: a new temporary folder).")
def demo_command(home: str | None) -> None:
    """Score the bundled demo data with the bundled deployment and show predictions.csv."""
    from emulator.jobs import run_batch_job

    demo = Path(__file__).resolve().parents[1] / "demo"
    home = home or tempfile.mkdtemp(prefix="batch-emulator-demo-")
    click.echo(f"deployment: {demo / 'deployment.yml'}\ninput:      {demo / 'data'}")
    job = run_batch_job(demo / "deployment.yml", demo / "data", home=home)
    click.echo(f"job {job.name}: {job.status}; {job.files_succeeded} of {job.files_total} "
               f"files succeeded in {job.mini_batches_total} mini-batches")
    click.echo(f"logs:       {job.job_folder}/logs")
    if job.status != "Completed":
        click.echo(f"ERROR: {job.error}", err=True)
        sys.exit(5)
    click.echo(f"results:    {job.output_file}\n")
    lines = Path(job.output_file).read_text(encoding="utf-8").splitlines()
    for line in lines[:10]:
        click.echo(f"  {line}")
    if len(lines) > 10:
        click.echo(f"  ... {len(lines) - 10} more rows")


def _split_set(item: str) -> tuple[str, object]:
    import yaml

    key, sep, value = item.partition("=")
    if not sep:
        raise click.BadParameter(f"{item!r}: expected PATH=VALUE", param_hint="--set")
    return key.strip(), yaml.safe_load(value) if value.strip() else ""


def main() -> None:
    cli(prog_name="batch-emulator")
