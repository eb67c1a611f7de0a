"""``scones train`` and ``scones evaluate``: run one SageMaker step script locally."""

from __future__ import annotations

import argparse
from pathlib import Path

from scones.commands import add_step, require_input
from scones.workspace import Workspace


def register(subparsers) -> None:
    ws = Workspace.from_env()
    from processing import evaluate
    from training import train

    clean = ws.steps / "clean"
    add_step(subparsers, "train", train.build_parser(add_help=False),
             "train the CNN (SageMaker script mode) and pack model.tar.gz",
             epilog="Example: scones train --epochs 5 --learning-rate 0.02",
             train=str(clean / "train"), validation=str(clean / "validation"),
             model_dir=str(ws.steps / "model"), output_data_dir=str(ws.steps / "training-output"),
             handler=_train)
    add_step(subparsers, "evaluate", evaluate.build_parser(add_help=False),
             "score model.tar.gz on the test split -> evaluation.json",
             model=str(ws.steps / "model.tar.gz"), test=str(clean / "test"),
             output=str(ws.steps / "evaluation"), handler=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from scones.artifacts import pack_model_dir
    from training import train

    require_input(args.train, "scones data etl && scones data check")
    code = train.run(args)
    if code == 0:
        tarball = pack_model_dir(Path(args.model_dir), Path(args.model_dir).parent / "model.tar.gz")
        print(f"model artifact: {tarball}")
    return code


def _evaluate(args: argparse.Namespace) -> int:
    from processing import evaluate

    require_input(args.model, "scones train")
    require_input(args.test, "scones data etl && scones data check")
    return evaluate.run(args)
