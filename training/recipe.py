"""How a model is trained, and why training stopped: the recipe, apart from the loop that follows it."""

from __future__ import annotations

from dataclasses import dataclass


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


def stop_reason(epoch: int, steps: int, recipe: Recipe, stale: int, best_epoch: int) -> str:
    """Why training ended, in the words the step log prints."""
    if stale >= recipe.patience:
        return (f"early stop: validation loss did not improve for {recipe.patience} epochs "
                f"(best epoch {best_epoch} of {epoch})")
    if steps >= recipe.max_steps:
        return f"step budget of {recipe.max_steps} optimizer steps spent after {epoch} epochs"
    return f"epoch cap of {recipe.epochs} reached"
