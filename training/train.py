"""Training entry point in SageMaker script mode.

SageMaker's training toolkit runs ``python train.py --epochs 10 --learning-rate
0.01 ...`` with the data channels in ``SM_CHANNEL_TRAIN`` /
``SM_CHANNEL_VALIDATION`` and the artifact folder in ``SM_MODEL_DIR``; the local
engine sets the same variables, so this file runs unchanged in both.

Each epoch prints one line that a SageMaker metric definition can read::

    epoch=3 train_loss=0.4121 train_accuracy=0.8350 val_loss=0.3902 val_accuracy=0.8600

The pieces: the recipe (:mod:`training.recipe`), the loop that follows it
(:mod:`training.loop`), and the serving artifact it leaves (:mod:`training.artifact`), which
needs no training code to serve.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.distributed import Cluster
from common.imaging import INPUT_SIZE, MEAN, STD, preprocess
from common.manifest import find_lst, read_classes, read_image_size, read_lst
from training.artifact import save_artifact
from training.loop import TrainingLoop, predict_logits
from training.recipe import Recipe

#: The metric definitions the SageMaker estimator registers (regexes over the log).
#: SageMaker searches every log line with each regex; anchored on the epoch line's ``epoch=N``, so the
#: "stopped: ... (val_loss=...)" and "keeping the weights ..." lines add no extra data points.
METRIC_DEFINITIONS = [
    {"Name": "train_loss", "Regex": r"\bepoch=\d+ train_loss=([0-9.]+)"},
    {"Name": "val_loss", "Regex": r"\bepoch=\d+ .*\bval_loss=([0-9.]+)"},
    {"Name": "val_accuracy", "Regex": r"\bepoch=\d+ .*\bval_accuracy=([0-9.]+)"},
]
ONNX_FILE, TORCHSCRIPT_FILE, INFO_FILE = "model.onnx", "model.pt", "model_info.json"


def load_split(folder: Path, size: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A dataset folder (``*.lst`` + images + classes.json) -> (N x 3 x S x S float32, labels, classes).

    ``S`` is ``size``, else the split's ``dataset.json``, else 32 (datasets older than ImageSize).
    """
    folder = Path(folder)
    classes = read_classes(folder)
    entries = read_lst(find_lst(folder))
    if not entries:
        raise ValueError(f"{folder}: the manifest lists no images")
    size = size or read_image_size(folder, INPUT_SIZE)
    images = np.stack([preprocess((folder / e.path).read_bytes(), size) for e in entries])
    labels = np.array([e.label for e in entries], dtype=np.int64)
    return images, labels, classes


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def is_greyscale(images: np.ndarray) -> bool:
    """True when the normalised images carry no colour (all three channels equal before normalising)."""
    sample = images[: min(len(images), 256)]
    raw = sample * np.asarray(STD, np.float32)[:, None, None] + np.asarray(MEAN, np.float32)[:, None, None]
    return float(np.abs(raw[:, 0] - raw[:, 1]).mean() + np.abs(raw[:, 1] - raw[:, 2]).mean()) < 2 / 255


def resolve_flip(setting: str, images: np.ndarray) -> tuple[bool, str]:
    """``true``/``false``, or ``auto``: flip colour photos, not greyscale scans (text and digits mirror wrongly)."""
    value = str(setting).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True, "horizontal flip on"
    if value in ("0", "false", "no", "off"):
        return False, "horizontal flip off"
    if is_greyscale(images):
        return False, "horizontal flip off (auto: greyscale images, as scans of text and digits are)"
    return True, "horizontal flip on (auto: colour photos)"


def train(train_dir: Path, validation_dir: Path | None, model_dir: Path, recipe: Recipe | None = None, *,
          architecture: str = "small_cnn", log=print, initial_weights: str | None = None,
          freeze_backbone: bool = False, pretrained: bool = True, cluster: Cluster | None = None) -> dict:
    """Train, calibrate, write the serving artifact to ``model_dir``; return the history and final metrics.

    ``recipe`` says how (its epochs, learning rate, batch size and seed are the pipeline's
    parameters); the keywords say what network, from which weights, on which ranks.

    With a ``cluster`` of several ranks (a joined process group, :mod:`common.distributed`) the
    model is wrapped in DistributedDataParallel: every rank walks the same shuffled global
    batches and trains on its share of each (a DistributedSampler's split, reshuffled per epoch),
    gradients are averaged, so a step sees the same ``batch_size`` images as on one instance.
    Rank 0's validation decides early stopping for all; only rank 0 calibrates and writes the
    artifact (SageMaker keeps the first host's model directory).
    """
    from training.calibration import fit_temperature, nll
    from training.network import IMAGENET_ARCHITECTURES, build

    cluster = cluster or Cluster()
    recipe = recipe or Recipe()
    if not cluster.is_main:
        main_log = log
        log = lambda line: main_log(f"[rank {cluster.rank}] {line}") if line.startswith("stopped") else None  # noqa: E731
    seed_everything(recipe.seed)
    size = read_image_size(train_dir, INPUT_SIZE)
    x_train, y_train, classes = load_split(train_dir, size)
    if validation_dir is not None and Path(validation_dir).exists():
        x_val, y_val, val_classes = load_split(validation_dir, size)
        if val_classes != classes:
            raise ValueError(f"validation classes {val_classes} differ from train classes {classes}")
    else:
        log("WARNING no validation split: early stopping and calibration use the training images")
        x_val, y_val = x_train, y_train
    model = build(architecture, len(classes))
    if architecture in IMAGENET_ARCHITECTURES and pretrained and not initial_weights:
        from training.imagenet import locate_weights

        initial_weights = str(locate_weights(architecture))
    if initial_weights:
        from training.network import load_initial_weights

        counts = load_initial_weights(model, initial_weights, freeze_backbone)
        log(f"initial weights {initial_weights}: {counts['loaded']} tensors loaded, {counts['skipped']} skipped"
            + (", backbone frozen" if freeze_backbone else ""))
    net = model  # the module whose weights are kept and saved
    if cluster.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)  # broadcasts rank 0's initial weights to every rank
    plan = recipe.plan(len(classes))
    recipe = recipe.for_classes(len(classes))
    flip, flip_note = resolve_flip(recipe.horizontal_flip, x_train)
    loop = TrainingLoop(model, net, (x_train, y_train), (x_val, y_val), recipe, cluster, flip, log)
    log(f"training {architecture} on {len(y_train)} images of {size}x{size}, validating on {len(y_val)}, "
        f"classes {classes[:10]}{'...' if len(classes) > 10 else ''}; up to {loop.planned_steps} steps "
        f"({loop.steps_per_epoch} per epoch; {plan}), {flip_note}"
        + (f"; data-parallel over {cluster.world_size} ranks ({cluster.backend})" if cluster.distributed else ""))
    stop_reason = loop.fit()
    history = loop.history
    training = {"stop_reason": stop_reason, "best_epoch": loop.best_epoch, "epochs_run": loop.epoch,
                "steps": loop.steps, "horizontal_flip": flip, "image_size": size, "ranks": cluster.world_size}
    if not cluster.is_main:  # rank 0 calibrates and writes the one artifact
        return {"history": history, "classes": classes, "hyperparameters": {}, "diagnostics": None,
                "training": training}
    val_logits = predict_logits(net, x_val)
    temperature = fit_temperature(val_logits, y_val)
    log(f"calibration: temperature {temperature:.3f} fitted on {len(y_val)} validation images "
        f"(NLL {nll(val_logits, y_val):.4f} -> {nll(val_logits, y_val, temperature):.4f})")
    hyperparameters = {**asdict(recipe), "architecture": architecture, "freeze_backbone": freeze_backbone,
                       "initial_weights": initial_weights}
    training["temperature"] = temperature
    save_artifact(net.eval(), Path(model_dir), classes, architecture, hyperparameters, history,
                  image_size=size, temperature=temperature, training=training)
    from training.diagnostics import write_diagnostics

    diagnostics = write_diagnostics(history, Path(model_dir), log=log)
    return {"history": history, "classes": classes, "hyperparameters": hyperparameters, "diagnostics": diagnostics,
            "training": training}


def _truthy(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _weights_from_channel(folder: str | None) -> str | None:
    """The first .pt/.pth file in the SageMaker 'weights' channel, if there is one."""
    if not folder or not Path(folder).is_dir():
        return None
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix in (".pt", ".pth"))
    return str(found[0]) if found else None


def build_parser(add_help: bool = True) -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        add_help=add_help,
        prog="train.py",
        description="Train the image classifier (SageMaker script mode; SM_* variables give the paths).",
    )
    defaults = Recipe()
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="cap on epochs; 0 (default): 60 up to four classes, then 12 per class (at most "
                             "400); training usually stops earlier (patience, step budget)")
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float,
                        default=defaults.learning_rate, help="peak AdamW learning rate of the one-cycle schedule")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distributed-backend", default="auto", choices=("auto", "gloo", "nccl"),
                        help="process-group backend when SM_HOSTS lists several hosts or torchrun launched this "
                             "(auto: nccl with a GPU, else gloo)")
    parser.add_argument("--max-steps", "--max_steps", dest="max_steps", type=int, default=defaults.max_steps,
                        help="budget of optimizer steps; 0 (default): 1,200 up to four classes, then 300 per "
                             "class")
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="stop after this many epochs without a better validation loss; 0 (default): "
                             "an eighth of the epoch cap, at least 10")
    parser.add_argument("--weight-decay", "--weight_decay", dest="weight_decay", type=float,
                        default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", "--label_smoothing", dest="label_smoothing", type=float,
                        default=defaults.label_smoothing)
    parser.add_argument("--horizontal-flip", "--horizontal_flip", dest="horizontal_flip",
                        default=defaults.horizontal_flip,
                        help="augment with mirrored images: true, false, or auto (colour photos yes, greyscale no)")
    parser.add_argument("--architecture", default="small_cnn",
                        help="small_cnn, resnet (small, from scratch), resnet18 or resnet50 (ImageNet weights)")
    parser.add_argument("--pretrained", type=_truthy, default=True,
                        help="resnet18/resnet50: start from ImageNet weights (true/false)")
    parser.add_argument("--initial-weights", "--initial_weights", dest="initial_weights",
                        default=_weights_from_channel(env("SM_CHANNEL_WEIGHTS")),
                        help="state-dict file to start from (transfer learning); a 'weights' channel works too")
    parser.add_argument("--freeze-backbone", "--freeze_backbone", dest="freeze_backbone", type=_truthy,
                        default=False, help="train only the classifier head (true/false)")
    parser.add_argument("--train", default=env("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    parser.add_argument("--validation", default=env("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    parser.add_argument("--model-dir", default=env("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    return parser


def run(args: argparse.Namespace) -> int:
    from common import distributed

    try:
        cluster = distributed.from_environment(backend=args.distributed_backend)
    except ValueError as exc:
        print(f"train failed: {exc}", file=sys.stderr, flush=True)
        return 1
    if cluster.distributed:
        print(f"distributed: rank {cluster.rank} of {cluster.world_size}, {cluster.backend}, master "
              f"{cluster.master_addr}:{cluster.master_port}", flush=True)
    try:
        with distributed.joined(cluster):
            recipe = Recipe(epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
                            seed=args.seed, max_steps=args.max_steps, patience=args.patience,
                            weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                            horizontal_flip=args.horizontal_flip)
            result = train(Path(args.train), Path(args.validation), Path(args.model_dir), recipe,
                           architecture=args.architecture, log=lambda line: print(line, flush=True),
                           initial_weights=args.initial_weights, freeze_backbone=args.freeze_backbone,
                           pretrained=args.pretrained, cluster=cluster)
    except (ValueError, FileNotFoundError) as exc:
        print(f"train failed: {exc}", file=sys.stderr, flush=True)
        return 1
    output = Path(args.output_data_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / "history.json").write_text(json.dumps(result["history"], indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # the training toolkit may pass hyperparameters this script does not use
        print(f"train: ignoring unknown arguments {unknown}", flush=True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
