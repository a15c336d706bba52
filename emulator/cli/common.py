"""What every ``az``-style command shares: the global options, the service, rendering."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from emulator.cli.output import FORMATS, render
from emulator.exceptions import EmulatorError


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
        click.Option(["--verbose"], is_flag=True,
                     help="More detail: a line per finished mini-batch while a job is followed."),
        click.Option(["--only-show-errors"], is_flag=True, help="Hide warnings."),
    ]


GLOBAL_NAMES = ("output", "query", "resource_group", "workspace_name", "subscription", "debug",
                "verbose", "only_show_errors")


def open_service(**options: Any):
    """The service for a command; imported when a command runs, so that ``--help`` and usage
    errors stay instant."""
    from emulator.service import BatchService  # see the docstring

    return BatchService(**options)


@dataclass
class Failed:
    """A command's result that is shown, and then the command fails with ``error`` (a job that
    ended without completing: its document is still the answer)."""

    document: Any
    error: EmulatorError


class AzCommand(click.Command):
    """A command that parses as ``az`` does: any unambiguous prefix of a long option is that
    option (``--endpoint`` for ``--endpoint-name``), an exact name always wins."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_option_prefixes(self, ctx, args))


def expand_option_prefixes(command: click.Command, ctx: click.Context,
                           args: list[str]) -> list[str]:
    names = sorted({name for param in command.get_params(ctx) if isinstance(param, click.Option)
                    for name in (*param.opts, *param.secondary_opts) if name.startswith("--")})
    expanded = []
    for position, token in enumerate(args):
        if token == "--":
            return [*expanded, *args[position:]]
        option, equals, value = token.partition("=")
        if option.startswith("--") and option not in names:
            candidates = [name for name in names if name.startswith(option)]
            if len(candidates) > 1:
                raise click.UsageError(f"ambiguous option: {option} could match "
                                       f"{', '.join(candidates)}", ctx)
            if candidates:
                token = candidates[0] + equals + value
        expanded.append(token)
    return expanded


def az_command(group: click.Group, name: str, own: tuple[str, ...] = (),
               **settings: Any) -> Callable:
    """Register ``fn(service, **options)`` as ``group name``; its return value is rendered
    (a ``Failed`` is rendered, then its error raised). ``own``: global options the command
    defines with a meaning of its own (``account set --subscription``)."""

    def decorator(fn: Callable) -> click.Command:
        @functools.wraps(fn)
        def callback(**kwargs: Any) -> None:
            common = {key: None if key in own else kwargs.pop(key) for key in GLOBAL_NAMES}
            service = open_service(workspace=common["workspace_name"],
                                   resource_group=common["resource_group"],
                                   subscription=common["subscription"])
            result = fn(service, **kwargs)
            if not common["only_show_errors"]:
                for warning in service.warnings:
                    click.echo(f"WARNING: {warning}", err=True)
            if isinstance(result, Failed):
                render(result.document, common["output"], common["query"])
                raise result.error
            render(result, common["output"], common["query"])

        command = group.command(name, cls=AzCommand, **settings)(callback)
        command.params.extend(option for option in _global_options() if option.name not in own)
        return command

    return decorator


def output_options(fn: Callable) -> Callable:
    """``-o`` and ``--query`` for the emulator's own commands (``run``, ``validate``,
    ``demo``): without ``-o`` they print for people; with it, the document az-style."""
    fn = click.option("--query", help="JMESPath query applied to the output (with -o).")(fn)
    return click.option("-o", "--output", type=click.Choice(FORMATS), default=None,
                        help="Print the result document in this format instead of the "
                             "summary for people.")(fn)


def set_option(help_text: str = "PATH=VALUE to set; repeatable, or several after one --set.") -> Callable:
    return click.option("--set", "set_values", multiple=True, metavar="PATH=VALUE", help=help_text)


# Options that take several values after one flag, as az's do (`--set a=1 b=2`): each value
# is one assignment ...
MULTI_VALUE_OPTIONS = ("--set", "--defaults")
# ... or all the values are one operation (`--add tags a=1 b=2`, `--remove items 0`).
GROUPED_OPTIONS = ("--add", "--remove")
WORD_SEPARATOR = "\x1f"  # joins a grouped option's words into the one value click takes


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """``--set a=1 b=2`` → ``--set a=1 --set b=2`` (click takes one value per flag);
    ``--add tags a=1 b=2`` → ``--add tags<US>a=1<US>b=2`` (see ``words``)."""
    multi = set(MULTI_VALUE_OPTIONS) | ({"-d"} if "configure" in argv else set())
    expanded: list[str] = []
    current: str | None = None
    for token in argv:
        if token in multi or token in GROUPED_OPTIONS:
            current = token
            expanded.append(token)
        elif current in GROUPED_OPTIONS and not token.startswith("-"):
            if expanded[-1] == current:
                expanded.append(token)
            else:
                expanded[-1] += WORD_SEPARATOR + token
        elif current and not token.startswith("-") and expanded[-1] != current:
            expanded.extend([current, token])
        else:
            if token.startswith("-"):
                current = None
            expanded.append(token)
    return expanded


def words(values: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each ``--add``/``--remove`` occurrence as its words."""
    return [tuple(value.split(WORD_SEPARATOR)) for value in values]


def update_options(fn: Callable) -> Callable:
    """az's generic update arguments: ``--set``, ``--add``, ``--remove``, ``--force-string``."""
    fn = click.option("--force-string", is_flag=True,
                      help="Keep --set/--add values as strings instead of parsing them.")(fn)
    fn = click.option("--remove", "remove", multiple=True, metavar="PATH [INDEX]",
                      help="Remove a property, or a list item by index.")(fn)
    fn = click.option("--add", "add", multiple=True, metavar="PATH VALUE...",
                      help="Add to a list (KEY=VALUE words make one object) or a mapping.")(fn)
    return set_option()(fn)
