"""``component`` and ``job create``: components, and pipeline jobs made of them."""

from __future__ import annotations

import click

from emulator.cli.common import az_command, set_option
from emulator.cli.endpoints import job, stream_job

component = click.Group("component", help="Register and inspect components (command, pipeline).")


@az_command(component, "create")
@click.option("--file", "-f", type=click.Path(dir_okay=False), required=True,
              help="Component YAML (type: command or pipeline).")
@click.option("--name", "-n", help="Overrides the YAML's name.")
@click.option("--version", "-v", help="Overrides the YAML's version.")
@set_option()
def component_create(service, file, name, version, set_values):
    """Register a component version: its code is copied, its steps' components registered."""
    extra = [f"name={name}"] if name else []
    extra += [f"version={version}"] if version else []
    return service.create_component(file, [*set_values, *extra])


@az_command(component, "show")
@click.option("--name", "-n", required=True)
@click.option("--version", "-v", help="Default: the latest.")
@click.option("--label", "-l", help="latest")
def component_show(service, name, version, label):
    """Show a component version (default: the latest)."""
    return service.show_component(name, version, label)


@az_command(component, "list")
@click.option("--name", "-n", help="List every version of this one.")
@click.option("--include-archived", is_flag=True, help="Archived versions too.")
def component_list(service, name, include_archived):
    """List components (latest versions), or every version of --name."""
    return service.list_components(name, include_archived)


@az_command(component, "archive")
@click.option("--name", "-n", required=True)
@click.option("--version", "-v", help="Default: every version.")
def component_archive(service, name, version):
    """Archive a component (or one version): hidden from list, still usable."""
    return service.archive_component(name, version)


@az_command(job, "create")
@click.option("--file", "-f", type=click.Path(dir_okay=False), required=True,
              help="Pipeline job YAML (type: pipeline).")
@click.option("--name", "-n", help="Job name (default pipelinejob-<uuid>).")
@set_option("e.g. inputs.input_data.path=azureml:mydata@latest")
@click.option("--stream", is_flag=True, help="Follow the job until it ends.")
def job_create(service, file, name, set_values, stream):
    """Create and start a pipeline job; it runs in the background."""
    document = service.create_job(file, set_values, name=name)
    if stream:
        stream_job(service, document["name"])
        return service.show_job(document["name"])
    return document
