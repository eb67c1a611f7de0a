"""``scones``: one command line for the whole project.

Sub-command groups live in :mod:`scones.commands`, one module each with a
``register(subparsers)`` function; heavy imports (torch, sagemaker, moto) happen
inside the handlers, so ``scones --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = ("demo", "data", "steps", "pipeline", "registry", "endpoint", "workflow", "review", "monitor", "ui",
                   "batch", "infra", "gc")

DESCRIPTION = """\
scones-mlops: CIFAR-100 bicycle-vs-motorcycle classification on SageMaker,
runnable offline on one laptop (no AWS account, no Docker).
"""

EPILOG = """\
Start here:
  scones demo                       the whole story locally, end to end
  scones review list                what the workflow sent to a person (answer: scones review answer, or scones ui)
  scones batch run --input DIR      score a folder of photos with the approved model (batch transform)

One step at a time (outputs go under $SCONES_HOME, default ./.scones):
  scones data synth                 write a SYNTHETIC CIFAR-100 archive (offline)
  scones data etl                   archive or image folder -> SxS PNGs + .lst manifests
  scones data check                 quarantine corrupt images, fail past a limit
  scones train --epochs 5           train the CNN (SageMaker script mode)
  scones evaluate                   write evaluation.json (SageMaker model-quality shape)

Every command has its own --help with examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scones", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails (default: one line)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"scones.commands.{name}").register(subparsers)
    return parser


def _leaf_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The sub-command parser that ``argv`` selects, so its errors show its own usage, not the top level's."""
    current = parser
    for token in argv:
        choices = next((a.choices for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if choices and token in choices:
            current = choices[token]
    return current


def _one_line(exc: BaseException) -> str:
    """A user-facing line for a failure outside the project's own errors."""
    module = type(exc).__module__ or ""
    if module.startswith(("botocore", "boto3")):
        return f"AWS call failed: {exc} (check the endpoint URL, region and credentials)"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _version() -> str:
    from scones import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line (``--debug``: the traceback) and a non-zero exit."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _leaf_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    from scones.errors import SconesError

    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `scones ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into a line and an exit code
        if args.debug:
            raise
        message = exc.message if isinstance(exc, SconesError) else _one_line(exc)
        hint = "" if isinstance(exc, SconesError) else " (scones --debug ... shows the traceback)"
        print(f"scones: {message}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
