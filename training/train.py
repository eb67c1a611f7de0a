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
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from processing.imaging import INPUT_SIZE, MEAN, STD, preprocess
from processing.manifest import find_lst, read_classes, read_lst

#: The metric definitions the SageMaker estimator registers (regexes over the log).
METRIC_DEFINITIONS = [
    {"Name": "train_loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "val_loss", "Regex": r"val_loss=([0-9.]+)"},
    {"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
]
ONNX_FILE, TORCHSCRIPT_FILE, INFO_FILE = "model.onnx", "model.pt", "model_info.json"


def load_split(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A dataset folder (``*.lst`` + images + classes.json) -> (N x 3 x S x S float32, labels, classes)."""
    folder = Path(folder)
    classes = read_classes(folder)
    entries = read_lst(find_lst(folder))
    if not entries:
        raise ValueError(f"{folder}: the manifest lists no images")
    images = np.stack([preprocess((folder / e.path).read_bytes()) for e in entries])
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


def evaluate_loss(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> tuple[float, float]:
    import torch
    from torch.nn import functional

    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for rows in _batches(len(labels), batch_size, None):
            logits = model(torch.from_numpy(images[rows]))
            target = torch.from_numpy(labels[rows])
            total_loss += float(functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
    return total_loss / len(labels), correct / len(labels)


def train(train_dir: Path, validation_dir: Path | None, model_dir: Path, epochs: int = 10,
          learning_rate: float = 0.01, batch_size: int = 64, seed: int = 0,
          architecture: str = "small_cnn", log=print, initial_weights: str | None = None,
          freeze_backbone: bool = False) -> dict:
    """Train, write the serving artifact to ``model_dir``, and return the history and final metrics."""
    import torch
    from torch.nn import functional

    from training.network import build

    seed_everything(seed)
    x_train, y_train, classes = load_split(train_dir)
    if validation_dir is not None and Path(validation_dir).exists():
        x_val, y_val, val_classes = load_split(validation_dir)
        if val_classes != classes:
            raise ValueError(f"validation classes {val_classes} differ from train classes {classes}")
    else:
        x_val, y_val = x_train, y_train
    model = build(architecture, len(classes))
    if initial_weights:
        from training.network import load_initial_weights

        counts = load_initial_weights(model, initial_weights, freeze_backbone)
        log(f"initial weights {initial_weights}: {counts['loaded']} tensors loaded, {counts['skipped']} skipped"
            + (", backbone frozen" if freeze_backbone else ""))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=learning_rate, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    rng = np.random.default_rng(seed)
    history = []
    log(f"training {architecture} on {len(y_train)} images, validating on {len(y_val)}, classes {classes}")
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        for rows in _batches(len(y_train), batch_size, rng):
            batch = x_train[rows]
            flip = rng.random(len(rows)) < 0.5
            batch = np.where(flip[:, None, None, None], batch[..., ::-1], batch)
            inputs, target = torch.from_numpy(np.ascontiguousarray(batch)), torch.from_numpy(y_train[rows])
            optimizer.zero_grad()
            logits = model(inputs)
            loss = functional.cross_entropy(logits, target)
            loss.backward()
            optimizer.step()
            seen += len(rows)
            loss_sum += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == target).sum())
        scheduler.step()
        val_loss, val_accuracy = evaluate_loss(model, x_val, y_val)
        record = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "val_loss": val_loss, "val_accuracy": val_accuracy,
                  "seconds": round(time.monotonic() - started, 3)}
        history.append(record)
        log(f"epoch={epoch} train_loss={record['train_loss']:.4f} train_accuracy={record['train_accuracy']:.4f} "
            f"val_loss={val_loss:.4f} val_accuracy={val_accuracy:.4f}")
    hyperparameters = {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
                       "seed": seed, "architecture": architecture}
    save_artifact(model.eval(), Path(model_dir), classes, architecture, hyperparameters, history)
    from training.diagnostics import write_diagnostics

    diagnostics = write_diagnostics(history, Path(model_dir), log=log)
    return {"history": history, "classes": classes, "hyperparameters": hyperparameters, "diagnostics": diagnostics}


def save_artifact(model, model_dir: Path, classes: Sequence[str], architecture: str,
                  hyperparameters: dict, history: list[dict]) -> None:
    """Write everything serving needs: ONNX + TorchScript, classes, info and the handler code."""
    import torch

    from processing.manifest import write_classes

    model_dir.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter needs no onnxscript
        torch.onnx.export(model, (example,), str(model_dir / ONNX_FILE), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        torch.jit.save(torch.jit.trace(model, example), str(model_dir / TORCHSCRIPT_FILE))
    write_classes(model_dir, classes)
    info = {
        "architecture": architecture,
        "input_size": INPUT_SIZE,
        "mean": MEAN,
        "std": STD,
        "output": "logits; serving applies softmax",
        "hyperparameters": hyperparameters,
        "final_metrics": history[-1] if history else {},
        "torch_version": torch.__version__,
    }
    (model_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    copy_serving_code(model_dir / "code")


def copy_serving_code(code_dir: Path) -> None:
    """``code/`` in the artifact: SageMaker's PyTorch serving container imports ``code/inference.py``."""
    root = Path(__file__).resolve().parent.parent
    for relative in ("training/__init__.py", "training/inference.py",
                     "processing/__init__.py", "processing/imaging.py"):
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
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float, default=0.01,
                        help="SGD learning rate (momentum 0.9, cosine schedule)")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--architecture", default="small_cnn", help="small_cnn or resnet")
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
    try:
        result = train(Path(args.train), Path(args.validation), Path(args.model_dir), args.epochs,
                       args.learning_rate, args.batch_size, args.seed, args.architecture,
                       log=lambda line: print(line, flush=True), initial_weights=args.initial_weights,
                       freeze_backbone=args.freeze_backbone)
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
