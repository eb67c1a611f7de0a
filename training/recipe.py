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

    ``epochs`` and ``max_steps`` of 0 (the defaults) scale with the problem (:meth:`for_classes`):
    more classes need more passes before the validation loss settles, so a fixed cap tuned on two
    classes ends a ten-class run while it is still learning. Given explicitly, they are used as is.
    """

    epochs: int = 0  # 0: EPOCHS_PER_CLASS per class, at least MIN_EPOCHS, at most MAX_EPOCHS
    max_steps: int = 0  # 0: STEPS_PER_CLASS per class, at least MIN_STEPS
    patience: int = 0  # 0: an eighth of the epoch cap, at least MIN_PATIENCE
    learning_rate: float = 0.003
    batch_size: int = 64
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.15
    crop_padding: int = 4
    horizontal_flip: str = "auto"
    cooldown_epochs: int = 3
    seed: int = 0


    def for_classes(self, classes: int) -> Recipe:
        """This recipe with its automatic epoch cap, step budget and patience made concrete for ``classes``.

        Up to four classes: 60 epochs, 1,200 steps and a patience of 10 (what the two- and four-class
        sets were tuned with); beyond, 12 epochs and 300 steps per class, so ten classes get 120
        epochs and 3,000 steps. The one-cycle schedule stretches over the longer plan, so its learning
        rate stays high for longer, and validation plateaus there last longer too: the patience is an
        eighth of the cap (15 for ten classes). Early stopping still ends most runs before the cap.
        """
        from dataclasses import replace

        epochs = self.epochs or min(MAX_EPOCHS, max(MIN_EPOCHS, EPOCHS_PER_CLASS * classes))
        return replace(self, epochs=epochs, max_steps=self.max_steps or max(MIN_STEPS, STEPS_PER_CLASS * classes),
                       patience=self.patience or max(MIN_PATIENCE, epochs // 8))

    def plan(self, classes: int) -> str:
        """How the cap and budget were chosen, for the training log."""
        resolved = self.for_classes(classes)

        def how(value: int) -> str:
            return "given" if value else "auto"

        return (f"epoch cap {resolved.epochs} ({how(self.epochs)}: {classes} classes), step budget "
                f"{resolved.max_steps} ({how(self.max_steps)}), patience {resolved.patience} ({how(self.patience)})")


MIN_EPOCHS, EPOCHS_PER_CLASS, MAX_EPOCHS = 60, 12, 400
MIN_STEPS, STEPS_PER_CLASS = 1200, 300
MIN_PATIENCE = 10


def stop_reason(epoch: int, steps: int, recipe: Recipe, stale: int, best_epoch: int) -> str:
    """Why training ended, in the words the step log prints."""
    if stale >= recipe.patience:
        return (f"early stop: validation loss did not improve for {recipe.patience} epochs "
                f"(best epoch {best_epoch} of {epoch})")
    if steps >= recipe.max_steps:
        return f"step budget of {recipe.max_steps} optimizer steps spent after {epoch} epochs"
    return f"epoch cap of {recipe.epochs} reached"
