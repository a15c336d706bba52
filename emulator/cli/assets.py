"""``model``, ``data``, ``environment``, ``compute`` and ``datastore`` commands."""

from __future__ import annotations

import click

from emulator.cli.common import az_command, set_option

file_option = click.option("--file", "-f", type=click.Path(dir_okay=False), help="YAML file.")
no_wait = click.option("--no-wait", is_flag=True, help="Accepted; operations are immediate.")
yes = click.option("--yes", "-y", is_flag=True, help="Do not prompt for confirmation.")


def versioned_asset_group(kind: str, types: tuple[str, ...], help_text: str) -> click.Group:
    """create/show/list/delete for a versioned asset (model, data)."""
    group = click.Group(kind, help=help_text)

    @az_command(group, "create")
    @click.option("--name", "-n")
    @click.option("--version", "-v", help=f"The {kind}'s version (default: the next integer).")
    @click.option("--path", "-p", help="Local file or folder (copied), or a datastore URI.")
    @click.option("--type", "-t", "type_", type=click.Choice(types))
    @click.option("--description", "-d")
    @file_option
    @set_option()
    def create(service, name, version, path, type_, description, file, set_values):
        creator = service.create_model if kind == "model" else service.create_data
        return creator(file=file, set_values=set_values, name=name, version=version, path=path,
                       type=type_, description=description)

    create.help = f"Register a {kind} version (the artifact is copied into the workspace)."
    _show_list_delete(group, kind)
    return group


def _show_list_delete(group: click.Group, kind: str) -> None:
    @az_command(group, "show")
    @click.option("--name", "-n", required=True)
    @click.option("--version", "-v")
    @click.option("--label", "-l", help="latest")
    def show(service, name, version, label):
        return service.show_asset(kind, name, version, label)

    @az_command(group, "list")
    @click.option("--name", "-n", help="List every version of this one.")
    def list_(service, name):
        return service.list_assets(kind, name)

    @az_command(group, "delete")
    @click.option("--name", "-n", required=True)
    @click.option("--version", "-v", required=True)
    @yes
    def delete(service, name, version, yes):
        service.delete_asset(kind, name, version)

    show.help = f"Show a {kind} version (default: the latest)."
    list_.help = f"List {kind}s (latest versions), or every version of --name."
    delete.help = f"Delete one version of a {kind}."


model = versioned_asset_group("model", ("custom_model", "mlflow_model", "triton_model"),
                              "Register and inspect models.")
data = versioned_asset_group("data", ("uri_folder", "uri_file", "mltable"),
                             "Register and inspect data assets.")
environment = click.Group("environment", help="Register and inspect environments.")


@az_command(environment, "create")
@click.option("--name", "-n")
@click.option("--version", "-v")
@click.option("--image", "-i")
@click.option("--conda-file", "-c", type=click.Path(dir_okay=False))
@click.option("--description", "-d")
@file_option
@set_option()
def environment_create(service, name, version, image, conda_file, description, file, set_values):
    """Register an environment version (its conda file is copied)."""
    return service.create_environment(file=file, set_values=set_values, name=name,
                                      version=version, image=image, conda_file=conda_file,
                                      description=description)


_show_list_delete(environment, "environment")

compute = click.Group("compute", help="Register computes (amlcompute, kubernetes, dask); "
                                        "start, stop and list the nodes of an amlcompute.")


@az_command(compute, "create")
@click.option("--name", "-n")
@click.option("--type", "-t", "type_", type=click.Choice(["amlcompute", "kubernetes", "dask"]))
@click.option("--size", "-s")
@click.option("--min-instances", type=int, help="Workers kept warm; above 0, the first job "
                                                "starts the compute's cluster.")
@click.option("--max-instances", type=int)
@click.option("--idle-time-before-scale-down", type=int,
              help="Seconds an idle worker is kept before it is scaled down.")
@file_option
@set_option("e.g. scheduler_address=tcp://host:8786 for type dask.")
@no_wait
def compute_create(service, name, type_, size, min_instances, max_instances,
                   idle_time_before_scale_down, file, set_values, no_wait):
    """Register a compute target (a running amlcompute takes new bounds at once)."""
    return service.create_compute(file=file, set_values=set_values, name=name, type=type_,
                                  size=size, min_instances=min_instances,
                                  max_instances=max_instances,
                                  idle_time_before_scale_down=idle_time_before_scale_down)


@az_command(compute, "show")
@click.option("--name", "-n", required=True)
def compute_show(service, name):
    """Show a compute (an amlcompute's state: Running or Stopped)."""
    return service.show_compute(name)


@az_command(compute, "list")
def compute_list(service):
    """List computes."""
    return service.list_computes()


@az_command(compute, "delete")
@click.option("--name", "-n", required=True)
@click.option("--yes", "-y", is_flag=True,
              help="Do not prompt; cancel the jobs running on the compute.")
@no_wait
def compute_delete(service, name, yes, no_wait):
    """Delete a compute and stop its cluster; refused while jobs run on it, unless --yes."""
    service.delete_compute(name, cancel_jobs=yes)


@az_command(compute, "start")
@click.option("--name", "-n", required=True)
@no_wait
def compute_start(service, name, no_wait):
    """Start an amlcompute's Dask cluster and keep it warm for later jobs."""
    return service.start_compute(name)


@az_command(compute, "stop")
@click.option("--name", "-n", required=True)
@click.option("--yes", "-y", is_flag=True, help="Cancel the jobs running on the compute.")
@no_wait
def compute_stop(service, name, yes, no_wait):
    """Stop an amlcompute's Dask cluster; refused while jobs run on it, unless --yes."""
    return service.stop_compute(name, cancel_jobs=yes)


@az_command(compute, "list-nodes")
@click.option("--name", "-n", required=True)
def compute_list_nodes(service, name):
    """The workers of a running amlcompute: address, idle or running which job."""
    return service.list_compute_nodes(name)


datastore = click.Group("datastore", help="Register datastores.")


@az_command(datastore, "create")
@click.option("--name", "-n")
@file_option
@set_option()
def datastore_create(service, name, file, set_values):
    """Register a datastore."""
    return service.create_datastore(file=file, set_values=set_values, name=name)


@az_command(datastore, "show")
@click.option("--name", "-n", required=True)
def datastore_show(service, name):
    """Show a datastore (credentials hidden)."""
    return service.show_datastore(name)


@az_command(datastore, "list")
def datastore_list(service):
    """List datastores, workspaceblobstore first."""
    return service.list_datastores()


@az_command(datastore, "delete")
@click.option("--name", "-n", required=True)
@yes
def datastore_delete(service, name, yes):
    """Delete a datastore registration (its files stay)."""
    service.delete_asset("datastore", name)
