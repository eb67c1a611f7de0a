"""CLI command groups; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_group(subparsers, name: str, help_text: str, description: str | None = None) -> argparse._SubParsersAction:
    """A command group (``scones data ...``) whose bare invocation prints its own help."""
    group = subparsers.add_parser(name, help=help_text, description=description or help_text,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    group.set_defaults(group_parser=group)
    return group.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def add_step(subparsers, name: str, step_parser: argparse.ArgumentParser, help_text: str,
             epilog: str = "", **defaults) -> argparse.ArgumentParser:
    """Expose a step script's own arguments under the CLI, with workspace paths as defaults."""
    parser = subparsers.add_parser(name, parents=[step_parser], help=help_text,
                                   description=step_parser.description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(**defaults)
    return parser


def emit(text: str, output=None) -> None:
    """Print a document, or write it to ``output`` and say where."""
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(text)


def require_input(path: str | Path, produced_by: str) -> None:
    """Refuse to start a step whose input an earlier step has not written yet, naming that step."""
    from scones.errors import NotFound

    if not Path(path).exists():
        raise NotFound(f"{path} does not exist yet: run `{produced_by}` first (or pass the path explicitly)")
