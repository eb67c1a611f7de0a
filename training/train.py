"""Training entry point in SageMaker script mode.

SageMaker's training toolkit runs ``python train.py --epochs 10 --learning-rate
0.01 ...`` with the data channels in ``SM_CHANNEL_TRAIN`` /
``SM_CHANNEL_VALIDATION`` and the artifact folder in ``SM_MODEL_DIR``; the local
engine sets the same variables, so this file runs unchanged in both.

Each epoch prints one line that a SageMaker metric definition can read::

    epoch=3 train_loss=0.4121 train_accuracy=0.8350 val_loss=0.3902 val_accuracy=0.8600

The artifact needs no training code to serve: ``model.onnx`` (ONNX Runtime) and
``model.pt`` (TorchScript), ``classes.json``, ``model_info.json`` and
``code/`` with the serving handler, as SageMaker's PyTorch container expects.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from common.distributed import Cluster, gather, my_rows, share, total
from common.imaging import INPUT_SIZE, MEAN, STD, preprocess
from common.manifest import find_lst, read_classes, read_image_size, read_lst

#: The metric definitions the SageMaker estimator registers (regexes over the log).
METRIC_DEFINITIONS = [
    {"Name": "train_loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"},
    {"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
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


def _batches(count: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(count) if rng is not None else np.arange(count)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]


def predict_logits(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits of ``model`` (in eval mode) for preprocessed images, batched."""
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(images[rows])).numpy()
                               for rows in _batches(len(images), batch_size, None)])


def evaluate_loss(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
    """(mean NLL without label smoothing, accuracy): the numbers early stopping watches."""
    from training.calibration import nll

    logits = predict_logits(model, images, batch_size)
    return nll(logits, labels), float(np.mean(logits.argmax(1) == labels))


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


def augment(batch: np.ndarray, rng: np.random.Generator, padding: int, flip: bool) -> np.ndarray:
    """Random crop after reflect-padding by ``padding`` pixels, and an optional horizontal flip."""
    if padding:
        n, _, height, width = batch.shape
        padded = np.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="reflect")
        dy, dx = rng.integers(0, 2 * padding + 1, n), rng.integers(0, 2 * padding + 1, n)
        batch = np.stack([padded[i, :, dy[i]:dy[i] + height, dx[i]:dx[i] + width] for i in range(n)])
    if flip:
        mirror = rng.random(len(batch)) < 0.5
        batch = np.where(mirror[:, None, None, None], batch[..., ::-1], batch)
    return np.ascontiguousarray(batch)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained; the defaults are the recipe chosen on real images (``bench/learning.py``).

    Training runs until the validation loss has not improved for ``patience`` epochs, the
    ``max_steps`` optimizer-step budget is spent, or ``epochs`` (a cap) is reached; the best
    epoch's weights are kept. AdamW with a one-cycle schedule (warm-up, then cosine decay)
    over the planned steps, label smoothing, random crops and (for photos) horizontal flips.
    When early stopping ends training while the learning rate is still high, ``cooldown_epochs``
    more epochs anneal it to zero from the best weights.
    """

    epochs: int = 60
    max_steps: int = 1200
    patience: int = 10
    learning_rate: float = 0.003
    batch_size: int = 64
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.15
    crop_padding: int = 4
    horizontal_flip: str = "auto"
    cooldown_epochs: int = 3
    seed: int = 0


def _stop_reason(epoch: int, steps: int, recipe: Recipe, stale: int, best_epoch: int) -> str:
    """Why training ended, in the words the step log prints."""
    if stale >= recipe.patience:
        return (f"early stop: validation loss did not improve for {recipe.patience} epochs "
                f"(best epoch {best_epoch} of {epoch})")
    if steps >= recipe.max_steps:
        return f"step budget of {recipe.max_steps} optimizer steps spent after {epoch} epochs"
    return f"epoch cap of {recipe.epochs} reached"


def train(train_dir: Path, validation_dir: Path | None, model_dir: Path, epochs: int = Recipe.epochs,
          learning_rate: float = Recipe.learning_rate, batch_size: int = Recipe.batch_size, seed: int = 0,
          architecture: str = "small_cnn", log=print, initial_weights: str | None = None,
          freeze_backbone: bool = False, recipe: Recipe | None = None, pretrained: bool = True,
          cluster: Cluster | None = None) -> dict:
    """Train, calibrate, write the serving artifact to ``model_dir``; return the history and final metrics.

    ``epochs``, ``learning_rate``, ``batch_size`` and ``seed`` override the recipe's (they are the
    pipeline parameters); ``recipe`` carries the rest.

    With a ``cluster`` of several ranks (a joined process group, :mod:`common.distributed`) the
    model is wrapped in DistributedDataParallel: every rank walks the same shuffled global
    batches and trains on its share of each (a DistributedSampler's split, reshuffled per epoch),
    gradients are averaged, so a step sees the same ``batch_size`` images as on one instance.
    Rank 0's validation decides early stopping for all; only rank 0 calibrates and writes the
    artifact (SageMaker keeps the first host's model directory).
    """
    import copy

    import torch
    from torch.nn import functional

    from training.calibration import fit_temperature, nll
    from training.network import IMAGENET_ARCHITECTURES, build

    cluster = cluster or Cluster()
    recipe = replace(recipe or Recipe(), epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                     seed=seed)
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
    flip, flip_note = resolve_flip(recipe.horizontal_flip, x_train)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    steps_per_epoch = -(-len(y_train) // recipe.batch_size)
    planned_steps = max(1, min(recipe.max_steps, recipe.epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.learning_rate, total_steps=planned_steps, pct_start=recipe.warmup_fraction,
        anneal_strategy="cos", div_factor=25.0, final_div_factor=1000.0)
    rng = np.random.default_rng(recipe.seed)  # batch order: the same on every rank
    augment_rng = rng if not cluster.distributed else np.random.default_rng([recipe.seed, cluster.rank])
    history: list[dict] = []
    log(f"training {architecture} on {len(y_train)} images of {size}x{size}, validating on {len(y_val)}, "
        f"classes {classes[:10]}{'...' if len(classes) > 10 else ''}; up to {planned_steps} steps "
        f"({steps_per_epoch} per epoch), {flip_note}"
        + (f"; data-parallel over {cluster.world_size} ranks ({cluster.backend})" if cluster.distributed else ""))
    best_loss, best_epoch, best_state, stale = float("inf"), 0, None, 0
    steps, epoch = 0, 0

    def run_epoch(step_limit: int, after_step) -> dict:
        """One pass over the shuffled, augmented training set; returns the epoch's history record."""
        nonlocal steps, epoch
        epoch += 1
        started = time.monotonic()
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        for batch in _batches(len(y_train), recipe.batch_size, rng):
            if steps >= step_limit:
                break
            if len(batch) < 2 * cluster.world_size and seen:  # BatchNorm cannot train on one image per rank
                continue
            rows = my_rows(batch, cluster)
            inputs = torch.from_numpy(augment(x_train[rows], augment_rng, recipe.crop_padding, flip))
            target = torch.from_numpy(y_train[rows])
            optimizer.zero_grad()
            logits = model(inputs)
            loss = functional.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing)
            loss.backward()
            optimizer.step()
            after_step()
            steps += 1
            seen += len(rows)
            loss_sum += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == target).sum())
        seen, loss_sum, correct = total(cluster, seen, loss_sum, correct)
        val_loss, val_accuracy = share(cluster, evaluate_loss(net, x_val, y_val) if cluster.is_main else None)
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1),
                  "val_loss": val_loss, "val_accuracy": val_accuracy, "steps": steps,
                  "seconds": round(time.monotonic() - started, 3)}
        history.append(record)
        log(f"epoch={epoch} train_loss={record['train_loss']:.4f} train_accuracy={record['train_accuracy']:.4f} "
            f"val_loss={val_loss:.4f} val_accuracy={val_accuracy:.4f}")
        return record

    def keep_if_best(record: dict) -> bool:
        nonlocal best_loss, best_epoch, best_state
        if record["val_loss"] < best_loss - 1e-4:
            best_loss, best_epoch = record["val_loss"], record["epoch"]
            best_state = copy.deepcopy(net.state_dict())
            return True
        return False

    while epoch < recipe.epochs and steps < planned_steps and stale < recipe.patience:
        stale = 0 if keep_if_best(run_epoch(planned_steps, scheduler.step)) else stale + 1
    stop_reason = _stop_reason(epoch, steps, recipe, stale, best_epoch)
    log(f"stopped: {stop_reason}; best epoch {best_epoch} (val_loss={best_loss:.4f})")
    peak_share = optimizer.param_groups[0]["lr"] / recipe.learning_rate
    if stale >= recipe.patience and recipe.cooldown_epochs and peak_share > 0.05 and best_state is not None:
        # stopped while the learning rate was still high: anneal it to zero from the best weights,
        # which is where a one-cycle schedule gains most, at the cost of a few epochs
        net.load_state_dict(best_state)
        start_lr = optimizer.param_groups[0]["lr"]
        cooldown_steps = recipe.cooldown_epochs * steps_per_epoch
        cooldown = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, cooldown_steps) / cooldown_steps)))
        log(f"cool-down: {recipe.cooldown_epochs} epochs from the best weights, learning rate {start_lr:.2e} -> 0")
        for _ in range(recipe.cooldown_epochs):
            keep_if_best(run_epoch(steps + steps_per_epoch, cooldown.step))
        stop_reason += f"; then a {recipe.cooldown_epochs}-epoch cool-down (best epoch {best_epoch})"
    log(f"keeping the weights of epoch {best_epoch} (val_loss={best_loss:.4f})")
    if best_state is not None:
        net.load_state_dict(best_state)
    if cluster.distributed:  # DistributedDataParallel keeps replicas equal; a mismatch is a bug, said loudly
        checksums = gather(cluster, [float(t.detach().double().sum()) for t in net.parameters()])
        spread = max(abs(a - b) for other in checksums[1:] for a, b in zip(checksums[0], other, strict=True))
        if spread > 1e-6:
            raise RuntimeError(f"the ranks' weights differ (largest checksum gap {spread:.3g})")
        log(f"the {cluster.world_size} ranks hold the same weights (checksum gap {spread:.1g})")
    training = {"stop_reason": stop_reason, "best_epoch": best_epoch, "epochs_run": epoch, "steps": steps,
                "horizontal_flip": flip, "image_size": size, "ranks": cluster.world_size}
    if not cluster.is_main:  # rank 0 calibrates and writes the one artifact
        return {"history": history, "classes": classes, "hyperparameters": {}, "diagnostics": None,
                "training": training}
    model = net
    val_logits = predict_logits(model, x_val)
    temperature = fit_temperature(val_logits, y_val)
    log(f"calibration: temperature {temperature:.3f} fitted on {len(y_val)} validation images "
        f"(NLL {nll(val_logits, y_val):.4f} -> {nll(val_logits, y_val, temperature):.4f})")
    hyperparameters = {**asdict(recipe), "architecture": architecture, "freeze_backbone": freeze_backbone,
                       "initial_weights": initial_weights}
    training["temperature"] = temperature
    save_artifact(model.eval(), Path(model_dir), classes, architecture, hyperparameters, history,
                  image_size=size, temperature=temperature, training=training)
    from training.diagnostics import write_diagnostics

    diagnostics = write_diagnostics(history, Path(model_dir), log=log)
    return {"history": history, "classes": classes, "hyperparameters": hyperparameters, "diagnostics": diagnostics,
            "training": training}


def save_artifact(model, model_dir: Path, classes: Sequence[str], architecture: str,
                  hyperparameters: dict, history: list[dict], image_size: int = INPUT_SIZE,
                  temperature: float = 1.0, training: dict | None = None) -> None:
    """Write everything serving needs: ONNX + TorchScript (logits), classes, info and the handler code.

    ``model_info.json`` carries ``input_size`` and ``temperature``: serving fits images to that
    size and divides the logits by that temperature before the softmax.
    """
    import torch

    from common.manifest import write_classes

    model_dir.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, image_size, image_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter needs no onnxscript
        torch.onnx.export(model, (example,), str(model_dir / ONNX_FILE), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        torch.jit.save(torch.jit.trace(model, example), str(model_dir / TORCHSCRIPT_FILE))
    write_classes(model_dir, classes)
    info = {
        "architecture": architecture,
        "input_size": image_size,
        "mean": MEAN,
        "std": STD,
        "temperature": temperature,
        "output": "logits; serving applies softmax(logits / temperature)",
        "hyperparameters": hyperparameters,
        "training": training or {},
        "final_metrics": history[-1] if history else {},
        "torch_version": torch.__version__,
    }
    (model_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    copy_serving_code(model_dir / "code")


def copy_serving_code(code_dir: Path) -> None:
    """``code/`` in the artifact: SageMaker's PyTorch serving container imports ``code/inference.py``."""
    root = Path(__file__).resolve().parent.parent
    for relative in ("training/__init__.py", "training/inference.py", "training/calibration.py",
                     "common/__init__.py", "common/imaging.py", "common/defaults.py"):
        target = code_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, target)
    (code_dir / "inference.py").write_text(
        '"""SageMaker PyTorch serving entry point: the handler lives in training/inference.py."""\n'
        "from training.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n",
        encoding="utf-8",
    )


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
                        help="cap on epochs; training usually stops earlier (patience, step budget)")
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float,
                        default=defaults.learning_rate, help="peak AdamW learning rate of the one-cycle schedule")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distributed-backend", default="auto", choices=("auto", "gloo", "nccl"),
                        help="process-group backend when SM_HOSTS lists several hosts or torchrun launched this "
                             "(auto: nccl with a GPU, else gloo)")
    parser.add_argument("--max-steps", "--max_steps", dest="max_steps", type=int, default=defaults.max_steps,
                        help="budget of optimizer steps")
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="stop after this many epochs without a better validation loss")
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
            recipe = Recipe(max_steps=args.max_steps, patience=args.patience, weight_decay=args.weight_decay,
                            label_smoothing=args.label_smoothing, horizontal_flip=args.horizontal_flip)
            result = train(Path(args.train), Path(args.validation), Path(args.model_dir), args.epochs,
                           args.learning_rate, args.batch_size, args.seed, args.architecture,
                           log=lambda line: print(line, flush=True), initial_weights=args.initial_weights,
                           freeze_backbone=args.freeze_backbone, recipe=recipe, pretrained=args.pretrained,
                           cluster=cluster)
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
