"""Training diagnostics from the per-epoch history: overfitting and a loss that does not decrease.

Written by the training step next to the model (``diagnostics.json``, and a
curves PNG when matplotlib is available), printed as ``WARNING diagnostics:``
lines in the step log, and copied into ``evaluation.json`` by the evaluation step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

DIAGNOSTICS_FILE = "diagnostics.json"
CURVES_FILE = "training_curves.png"


def overfitting(history: list[dict], patience: int = 3) -> bool:
    """Validation loss rose while training loss fell, ``patience`` epochs in a row."""
    streak = 0
    for before, after in zip(history, history[1:], strict=False):
        if after["val_loss"] > before["val_loss"] and after["train_loss"] < before["train_loss"]:
            streak += 1
            if streak >= patience:
                return True
        else:
            streak = 0
    return False


def loss_not_decreasing(history: list[dict], min_improvement: float = 0.01) -> bool:
    """The training loss diverged (NaN/inf) or never got 1 % below its first-epoch value."""
    losses = [h["train_loss"] for h in history]
    if any(not math.isfinite(v) for v in losses):
        return True
    return len(losses) >= 2 and min(losses[1:]) > losses[0] * (1 - min_improvement)


def diagnose(history: list[dict], patience: int = 3) -> dict:
    warnings = []
    overfit = overfitting(history, patience)
    stuck = loss_not_decreasing(history)
    if overfit:
        warnings.append(f"overfitting: validation loss rose while training loss fell for {patience} epochs in a row")
    if stuck:
        warnings.append("loss not decreasing: the training loss diverged or never fell 1 % below its first epoch "
                        "(learning rate too high or too low?)")
    return {"overfitting": overfit, "loss_not_decreasing": stuck, "warnings": warnings, "epochs": len(history),
            "history": history}


def plot_curves(history: list[dict], path: Path) -> Path | None:
    """Train/validation loss and validation accuracy per epoch; None when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    epochs = [h["epoch"] for h in history]
    figure, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    loss_ax.set(title="Loss per epoch", xlabel="epoch", ylabel="cross-entropy")
    loss_ax.legend()
    acc_ax.plot(epochs, [h["val_accuracy"] for h in history], marker="o", color="tab:green")
    acc_ax.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write_diagnostics(history: list[dict], folder: Path, patience: int = 3, log=print) -> dict:
    report = diagnose(history, patience)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DIAGNOSTICS_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_curves(history, folder / CURVES_FILE)
    for warning in report["warnings"]:
        log(f"WARNING diagnostics: {warning}")
    return report
