"""What every ``az``-style command shares: the global options, the service, rendering."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from emulator.cli.output import FORMATS, render


def _global_options() -> list[click.Option]:
    return [
        click.Option(["-o", "--output"], type=click.Choice(FORMATS), default="json",
                     show_default=True, help="Output format."),
        click.Option(["--query"], help="JMESPath query applied to the output."),
        click.Option(["-g", "--resource-group"], help="Resource group (recorded)."),
        click.Option(["-w", "--workspace-name"], help="Workspace (default: configured, else "
                                                       "'default')."),
        click.Option(["--subscription"], help="Subscription id (recorded)."),
        click.Option(["--debug"], is_flag=True, help="Show Python tracebacks."),
        click.Option(["--verbose"], is_flag=True, help="Accepted for az compatibility."),
        click.Option(["--only-show-errors"], is_flag=True, help="Hide warnings."),
    ]


GLOBAL_NAMES = ("output", "query", "resource_group", "workspace_name", "subscription", "debug",
                "verbose", "only_show_errors")


def open_service(**options: Any):
    """The service for a command; imported when a command runs, so that ``--help`` and usage
    errors stay instant."""
    from emulator.service import BatchService  # see the docstring

    return BatchService(**options)


def az_command(group: click.Group, name: str, **settings: Any) -> Callable:
    """Register ``fn(service, **options)`` as ``group name``; its return value is rendered."""

    def decorator(fn: Callable) -> click.Command:
        @functools.wraps(fn)
        def callback(**kwargs: Any) -> None:
            common = {key: kwargs.pop(key) for key in GLOBAL_NAMES}
            service = open_service(workspace=common["workspace_name"],
                                   resource_group=common["resource_group"],
                                   subscription=common["subscription"])
            result = fn(service, **kwargs)
            if not common["only_show_errors"]:
                for warning in service.warnings:
                    click.echo(f"WARNING: {warning}", err=True)
            render(result, common["output"], common["query"])

        command = group.command(name, **settings)(callback)
        command.params.extend(_global_options())
        return command

    return decorator


def set_option(help_text: str = "PATH=VALUE to set; repeatable, or several after one --set.") -> Callable:
    return click.option("--set", "set_values", multiple=True, metavar="PATH=VALUE", help=help_text)


# Options that take several values after one flag, as az's do (`--set a=1 b=2`).
MULTI_VALUE_OPTIONS = ("--set", "--defaults", "--add", "--remove")


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """``--set a=1 b=2`` → ``--set a=1 --set b=2`` (click takes one value per flag)."""
    multi = set(MULTI_VALUE_OPTIONS) | ({"-d"} if "configure" in argv else set())
    expanded: list[str] = []
    current: str | None = None
    for token in argv:
        if token in multi:
            current = token
            expanded.append(token)
        elif current and not token.startswith("-") and expanded[-1] != current:
            expanded.extend([current, token])
        else:
            if token.startswith("-"):
                current = None
            expanded.append(token)
    return expanded
