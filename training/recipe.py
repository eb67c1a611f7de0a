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


    def for_classes(self, classes: int) -> Recipe:
        """This recipe with an automatic epoch cap and step budget made concrete for ``classes`` classes.

        Up to four classes the cap is 60 epochs and the budget 1,200 steps (what the two- and
        four-class sets were tuned with); beyond, 15 epochs and 300 steps per class, so ten classes
        get 150 epochs and 3,000 steps. Early stopping on the validation loss still ends most runs
        well before either; the cap only bounds how long a run that keeps improving may take.
        """
        from dataclasses import replace

        return replace(self, epochs=self.epochs or min(MAX_EPOCHS, max(MIN_EPOCHS, EPOCHS_PER_CLASS * classes)),
                       max_steps=self.max_steps or max(MIN_STEPS, STEPS_PER_CLASS * classes))

    def plan(self, classes: int) -> str:
        """How the cap and budget were chosen, for the training log."""
        epochs = "auto: " if not self.epochs else "given: "
        steps = "auto" if not self.max_steps else "given"
        resolved = self.for_classes(classes)
        return (f"epoch cap {resolved.epochs} ({epochs}{classes} classes), step budget {resolved.max_steps} "
                f"({steps}), patience {resolved.patience}")


MIN_EPOCHS, EPOCHS_PER_CLASS, MAX_EPOCHS = 60, 15, 400
MIN_STEPS, STEPS_PER_CLASS = 1200, 300


def stop_reason(epoch: int, steps: int, recipe: Recipe, stale: int, best_epoch: int) -> str:
    """Why training ended, in the words the step log prints."""
    if stale >= recipe.patience:
        return (f"early stop: validation loss did not improve for {recipe.patience} epochs "
                f"(best epoch {best_epoch} of {epoch})")
    if steps >= recipe.max_steps:
        return f"step budget of {recipe.max_steps} optimizer steps spent after {epoch} epochs"
    return f"epoch cap of {recipe.epochs} reached"
