"""The training loop: epochs over the shuffled, augmented set, early stopping, a cool-down, the best weights.

Everything that changes from step to step lives on one :class:`TrainingLoop`; the recipe
(:mod:`training.recipe`) says how, ``train()`` (:mod:`training.train`) prepares the data and
the network and writes the artifact afterwards. With several ranks every rank walks the same
shuffled global batches and trains on its share of each; rank 0's validation decides for all.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable

import numpy as np

from common.distributed import Cluster, gather, my_rows, share, total
from training.recipe import Recipe, stop_reason


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


class TrainingLoop:
    """One training run's moving parts: optimizer, schedule, batch order, history and the best epoch.

    ``model`` is what steps (DistributedDataParallel on several ranks), ``net`` the module whose
    weights are validated, kept and saved.
    """

    def __init__(self, model, net, train_set: tuple[np.ndarray, np.ndarray], val_set: tuple[np.ndarray, np.ndarray],
                 recipe: Recipe, cluster: Cluster, flip: bool, log: Callable[[str], None]):
        import torch

        self.model, self.net, self.recipe, self.cluster, self.flip, self.log = model, net, recipe, cluster, flip, log
        (self.x_train, self.y_train), (self.x_val, self.y_val) = train_set, val_set
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
        self.steps_per_epoch = -(-len(self.y_train) // recipe.batch_size)
        self.planned_steps = max(1, min(recipe.max_steps, recipe.epochs * self.steps_per_epoch))
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=recipe.learning_rate, total_steps=self.planned_steps,
            pct_start=recipe.warmup_fraction, anneal_strategy="cos", div_factor=25.0, final_div_factor=1000.0)
        self.rng = np.random.default_rng(recipe.seed)  # batch order: the same on every rank
        self.augment_rng = self.rng if not cluster.distributed else np.random.default_rng([recipe.seed, cluster.rank])
        self.history: list[dict] = []
        self.best_loss, self.best_epoch, self.best_state, self.stale = float("inf"), 0, None, 0
        self.steps, self.epoch = 0, 0

    def run_epoch(self, step_limit: int, after_step: Callable[[], None]) -> dict:
        """One pass over the shuffled, augmented training set; returns the epoch's history record."""
        import torch
        from torch.nn import functional

        recipe, cluster, model = self.recipe, self.cluster, self.model
        self.epoch += 1
        started = time.monotonic()
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        for batch in _batches(len(self.y_train), recipe.batch_size, self.rng):
            if self.steps >= step_limit:
                break
            if len(batch) < 2 * cluster.world_size and seen:  # BatchNorm cannot train on one image per rank
                continue
            rows = my_rows(batch, cluster)
            inputs = torch.from_numpy(augment(self.x_train[rows], self.augment_rng, recipe.crop_padding, self.flip))
            target = torch.from_numpy(self.y_train[rows])
            self.optimizer.zero_grad()
            logits = model(inputs)
            loss = functional.cross_entropy(logits, target, label_smoothing=recipe.label_smoothing)
            loss.backward()
            self.optimizer.step()
            after_step()
            self.steps += 1
            seen += len(rows)
            loss_sum += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == target).sum())
        seen, loss_sum, correct = total(cluster, seen, loss_sum, correct)
        val_loss, val_accuracy = share(cluster, evaluate_loss(self.net, self.x_val, self.y_val)
                                       if cluster.is_main else None)
        record = {"epoch": self.epoch, "train_loss": loss_sum / max(seen, 1),
                  "train_accuracy": correct / max(seen, 1), "val_loss": val_loss, "val_accuracy": val_accuracy,
                  "steps": self.steps, "seconds": round(time.monotonic() - started, 3)}
        self.history.append(record)
        self.log(f"epoch={self.epoch} train_loss={record['train_loss']:.4f} "
                 f"train_accuracy={record['train_accuracy']:.4f} val_loss={val_loss:.4f} "
                 f"val_accuracy={val_accuracy:.4f}")
        return record

    def keep_if_best(self, record: dict) -> bool:
        if record["val_loss"] < self.best_loss - 1e-4:
            self.best_loss, self.best_epoch = record["val_loss"], record["epoch"]
            self.best_state = copy.deepcopy(self.net.state_dict())
            return True
        return False

    def fit(self) -> str:
        """Train until the recipe says stop, cool down if that was early, load the best weights; say why."""
        import torch

        recipe, log = self.recipe, self.log
        while self.epoch < recipe.epochs and self.steps < self.planned_steps and self.stale < recipe.patience:
            self.stale = 0 if self.keep_if_best(self.run_epoch(self.planned_steps, self.scheduler.step)) \
                else self.stale + 1
        reason = stop_reason(self.epoch, self.steps, recipe, self.stale, self.best_epoch)
        log(f"stopped: {reason}; best epoch {self.best_epoch} (val_loss={self.best_loss:.4f})")
        peak_share = self.optimizer.param_groups[0]["lr"] / recipe.learning_rate
        if self.stale >= recipe.patience and recipe.cooldown_epochs and peak_share > 0.05 \
                and self.best_state is not None:
            # stopped while the learning rate was still high: anneal it to zero from the best weights,
            # which is where a one-cycle schedule gains most, at the cost of a few epochs
            self.net.load_state_dict(self.best_state)
            start_lr = self.optimizer.param_groups[0]["lr"]
            cooldown_steps = recipe.cooldown_epochs * self.steps_per_epoch
            cooldown = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, cooldown_steps) / cooldown_steps)))
            log(f"cool-down: {recipe.cooldown_epochs} epochs from the best weights, learning rate "
                f"{start_lr:.2e} -> 0")
            for _ in range(recipe.cooldown_epochs):
                self.keep_if_best(self.run_epoch(self.steps + self.steps_per_epoch, cooldown.step))
            reason += f"; then a {recipe.cooldown_epochs}-epoch cool-down (best epoch {self.best_epoch})"
        log(f"keeping the weights of epoch {self.best_epoch} (val_loss={self.best_loss:.4f})")
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        self.check_replicas()
        return reason

    def check_replicas(self) -> None:
        """DistributedDataParallel keeps replicas equal; a mismatch is a bug, said loudly."""
        cluster = self.cluster
        if not cluster.distributed:
            return
        checksums = gather(cluster, [float(t.detach().double().sum()) for t in self.net.parameters()])
        spread = max(abs(a - b) for other in checksums[1:] for a, b in zip(checksums[0], other, strict=True))
        if spread > 1e-6:
            raise RuntimeError(f"the ranks' weights differ (largest checksum gap {spread:.3g})")
        self.log(f"the {cluster.world_size} ranks hold the same weights (checksum gap {spread:.1g})")
