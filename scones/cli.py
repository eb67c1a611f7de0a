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

COMMAND_MODULES = ("demo", "data", "steps", "pipeline", "registry", "endpoint", "workflow", "monitor", "ui", "infra")

DESCRIPTION = """\
scones-mlops: CIFAR-100 bicycle-vs-motorcycle classification on SageMaker,
runnable offline on one laptop (no AWS account, no Docker).
"""

EPILOG = """\
Start here:
  scones demo                       the whole story locally, end to end

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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"scones.commands.{name}").register(subparsers)
    return parser


def _version() -> str:
    from scones import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    from scones.errors import SconesError

    try:
        return int(handler(args) or 0)
    except SconesError as exc:
        print(f"scones: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `scones ... | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
