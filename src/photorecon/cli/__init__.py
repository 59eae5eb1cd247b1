"""The `photorecon` command: one module per command or group of commands, each with its
options beside its handler (photorecon.cli.options holds what several share); the parser is
built from the command table below. Handlers import the library when they run, so
`photorecon --help` and a bad option answer at once."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from photorecon import __version__
from photorecon.cli import (
    challenge,
    data,
    detect,
    evaluate,
    fill,
    models,
    restore,
    serve,
    summary,
    train,
)
from photorecon.cli.options import Command, Parser, add_common, say_error
from photorecon.errors import PhotoreconError

# the commands in the order `photorecon --help` lists them; `photorecon data <command>` below
COMMANDS: tuple[Command, ...] = (
    *models.COMMANDS,
    *challenge.COMMANDS,
    *evaluate.COMMANDS,
    *fill.COMMANDS,
    *detect.COMMANDS,
    *restore.COMMANDS,
    *summary.COMMANDS,
    *serve.COMMANDS,
    *train.COMMANDS,
)
DATA_COMMANDS: tuple[Command, ...] = data.COMMANDS


def _add(sub, command: Command) -> None:
    p = sub.add_parser(command.name, help=command.help, description=command.help)
    p.set_defaults(func=command.run)
    add_common(p)
    if command.arguments is not None:
        command.arguments(p)


def build_parser() -> Parser:
    parser = Parser(
        prog="photorecon",
        description="Restore damaged photos: find scratches, dust, blotches and tears "
        "(detect, fill --auto), fill holes of any shape with a learned or classical fill, "
        "with the photo's own texture in large holes (fill --detail), undo fading, casts and "
        "grain (restore); train, evaluate and serve the models.",
    )
    parser.add_argument("--version", action="version", version=f"photorecon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        _add(sub, command)
    group = sub.add_parser("data", help="photo pack and data sets")
    data_sub = group.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    for command in DATA_COMMANDS:
        _add(data_sub, command)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"photorecon: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    # warnings as one plain line each, for this command only (main() called from Python
    # gives the process its own formatter back)
    previous, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        args = build_parser().parse_args(argv)  # options' own checks raise PhotoreconError
        from photorecon.threads import configure

        configure(getattr(args, "threads", None))  # before torch is imported: no spinning
        args.func(args)
    except PhotoreconError as exc:
        say_error(str(exc))
        return 2
    except KeyboardInterrupt:
        print("photorecon: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous
    return 0
