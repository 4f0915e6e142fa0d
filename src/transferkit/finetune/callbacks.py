"""What happens around the loop's steps and epochs, as callbacks (the event model of
Hugging Face's ``TrainerCallback`` and fastai's ``Callback``).

The loop (:class:`~transferkit.finetune.loop.Trainer`) only trains; scoring an epoch,
keeping the best one, early stopping, checkpoints, progress bars and epoch lines are
callbacks, called in order at each event with the trainer and its :class:`TrainState`:

* :class:`ValidationScore` — the task's validation metrics and the epoch's selection key;
* :class:`LabelFreeSelection` — a score computed without labels (deep domain adaptation);
* :class:`Monitor` — metrics that are reported, never used to select (the ``--oracle``);
* :class:`BestEpoch` — keeps the best epoch's weights, early stopping, restores at the end;
* :class:`Checkpointing` — atomic per-epoch checkpoints and exact ``resume``;
* :class:`ProgressBar`, :class:`EpochLines`, :class:`StepHook` — what the user sees.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_dir, load_tensors, read_json, save_tensors, write_json
from ..errors import TransferkitError
from ..progress import hidden

#: the :class:`~transferkit.finetune.loop.Trainer` (not imported: the loop imports this module)
Trainer = Any

CKPT_FILES = ("model.safetensors", "optimizer.pt", "rng.safetensors", "state.json")


@dataclass
class TrainState:
    """What the callbacks share during one ``fit`` (and a checkpoint saves).

    ``score`` is the current epoch's selection key (higher is better; None: no score, the
    last epoch counts); ``best_weights`` the tensors of the best epoch so far."""

    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_key: tuple[float, ...] | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    resumed_from: int | None = None
    should_stop: bool = False
    score: tuple[float, ...] | None = None
    best_weights: dict[str, torch.Tensor] | None = None


class Callback:
    """Base class: override the events you need. Each gets the trainer and its state."""

    def on_train_begin(self, trainer: Trainer, state: TrainState) -> None:
        """Before the first epoch (after the optimizer and loaders are built)."""

    def on_epoch_begin(self, trainer: Trainer, state: TrainState, epoch: int,
                       opened: dict[str, torch.Tensor]) -> None:
        """Before ``epoch``'s steps; ``opened``: parameters trainable for the first time."""

    def on_step_end(self, trainer: Trainer, state: TrainState, epoch: int, step: int,
                    loss: float) -> None:
        """After each optimisation step (``loss``: the task loss of the batch)."""

    def on_epoch_end(self, trainer: Trainer, state: TrainState, epoch: int,
                     record: dict[str, Any]) -> None:
        """After ``epoch``; ``record`` (epoch, train_loss, lr, ...) may be extended."""

    def on_train_end(self, trainer: Trainer, state: TrainState) -> None:
        """After the last epoch (or early stopping)."""


class ValidationScore(Callback):
    """The task's validation metrics (every process evaluates the whole split) and the
    epoch's selection key (:meth:`~transferkit.tasks.Task.selection_key`)."""

    def __init__(self, items: Sequence[Any], targets: np.ndarray):
        self.items, self.targets = items, np.asarray(targets)

    def on_epoch_end(self, trainer, state, epoch, record):
        record |= trainer.evaluate(self.items, self.targets)
        state.score = trainer.task.selection_key(record)


class LabelFreeSelection(Callback):
    """``selector(module) -> {"selection_score": s, ...}`` scores each epoch without labels
    of the data it is meant for (the best epoch maximises ``s``)."""

    def __init__(self, selector: Callable[[torch.nn.Module], dict[str, float]]):
        self.selector = selector

    def on_epoch_end(self, trainer, state, epoch, record):
        record |= self.selector(trainer.module)
        score = record["selection_score"]
        if not math.isfinite(score):
            raise TransferkitError(f"the epoch selector's score is {score} at epoch {epoch + 1}",
                                   "use another --selector (dev, the default, or last)")
        state.score = (score,)


class Monitor(Callback):
    """``monitor(module) -> dict`` adds metrics to each epoch's record that are reported and
    never used for selection (e.g. the labelled ``--oracle`` score)."""

    def __init__(self, monitor: Callable[[torch.nn.Module], dict[str, float]]):
        self.monitor = monitor

    def on_epoch_end(self, trainer, state, epoch, record):
        record |= self.monitor(trainer.module)


class BestEpoch(Callback):
    """Keep the weights of the epoch with the best score, stop after ``patience`` epochs
    without improvement, and load the best weights at the end. Without a score (no
    validation split) the last epoch is the one kept."""

    def __init__(self, patience: int | None = None):
        self.patience = patience

    def on_epoch_begin(self, trainer, state, epoch, opened):
        if state.best_weights is not None:  # frozen until now: as they were at the best epoch
            state.best_weights.update({n: p.detach().clone() for n, p in opened.items()
                                       if n not in state.best_weights})

    def on_epoch_end(self, trainer, state, epoch, record):
        key, state.score = state.score, None
        if key is None:
            state.best_epoch = epoch
        elif state.best_key is None or key > state.best_key:
            state.best_key, state.best_weights = key, trainer.snapshot()
            state.best_epoch, state.bad_epochs = epoch, 0
        else:
            state.bad_epochs += 1
        state.history.append(record)
        if self.patience and state.bad_epochs >= self.patience:
            state.should_stop = state.stopped_early = True

    def on_train_end(self, trainer, state):
        if state.best_weights is not None:
            trainer.module.load_state_dict(state.best_weights, strict=False)


class ProgressBar(Callback):
    """A bar per epoch on the main process, shown where :func:`transferkit.progress.hidden`
    allows (a terminal; never under ``--quiet`` or ``TRANSFERKIT_NO_PROGRESS``)."""

    def on_epoch_begin(self, trainer, state, epoch, opened):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.steps_per_epoch, desc=trainer.epoch_label(epoch),
                        unit="step", leave=False,
                        disable=True if not trainer.accelerator.is_main_process else hidden())

    def on_step_end(self, trainer, state, epoch, step, loss):
        self.bar.update()

    def on_epoch_end(self, trainer, state, epoch, record):
        self.bar.close()


class EpochLines(Callback):
    """One line per epoch on stderr (stdout holds results): the record's values."""

    def on_epoch_end(self, trainer, state, epoch, record):
        if trainer.accelerator.is_main_process:
            print(f"  {trainer.epoch_label(epoch)}  " + "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in record.items() if k != "epoch"), file=sys.stderr, flush=True)


class StepHook(Callback):
    """Calls ``hook(epoch, step)`` after every step (progress of one's own, tests)."""

    def __init__(self, hook: Callable[[int, int], None]):
        self.hook = hook

    def on_step_end(self, trainer, state, epoch, step, loss):
        self.hook(epoch, step)


#: settings a resumed run must share with its checkpoint (the others only change how it runs)
RESUME_INVARIANT = ("epochs", "lr", "head_lr", "weight_decay", "batch_size", "warmup",
                    "patience", "precision", "augment", "bn", "grad_clip", "seed",
                    "max_steps_per_epoch")


class Checkpointing(Callback):
    """Atomic per-epoch checkpoints in ``folder`` (safetensors weights, the optimizer state
    read back with ``weights_only=True``, JSON state with the RNG states) and, with
    ``resume``, an exact continuation from the last one."""

    def __init__(self, folder: str | Path, resume: bool = False):
        self.folder, self.resume = Path(folder), resume

    def on_train_begin(self, trainer, state):
        if self.resume:
            self._load(trainer, state)

    def on_epoch_end(self, trainer, state, epoch, record):
        self._save(trainer, state, epoch)

    # ------------------------------------------------------------------ files
    def _save(self, trainer: Trainer, state: TrainState, epoch: int) -> None:
        acc = trainer.accelerator
        if acc.is_main_process:
            with atomic_dir(self.folder) as stage:
                save_tensors(stage / "model.safetensors", trainer.snapshot())
                if state.best_weights is not None:
                    save_tensors(stage / "best.safetensors", state.best_weights)
                torch.save(trainer.optimizer.state_dict(), stage / "optimizer.pt")
                np_state = np.random.get_state()
                save_tensors(stage / "rng.safetensors", {
                    "torch": torch.get_rng_state(),
                    "numpy": torch.from_numpy(np_state[1].astype(np.int64))})
                py_state = random.getstate()
                sched = {k: v for k, v in trainer.scheduler.state_dict().items()
                         if k != "lr_lambdas"}
                write_json(stage / "state.json", {
                    "epoch": epoch, "history": state.history, "best_epoch": state.best_epoch,
                    "best_key": list(state.best_key) if state.best_key else None,
                    "bad_epochs": state.bad_epochs, "stopped_early": state.should_stop,
                    "scheduler": sched, "ever_trainable": sorted(trainer.ever_trainable),
                    "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]),
                                  float(np_state[4])],
                    "python_rng": [py_state[0], list(py_state[1]), py_state[2]],
                    "strategy": trainer.strategy.describe(), "config": asdict(trainer.config),
                    "data": trainer.data_digest,
                    "task": trainer.task.state(),  # what the task learns (loss weights)
                })
        acc.wait_for_everyone()

    def _load(self, trainer: Trainer, state: TrainState) -> None:
        """Restore weights, optimizer, scheduler, RNG states and the callbacks' state from
        the last checkpoint, when there is one."""
        path = existing_checkpoint(self.folder)
        if path is None:
            return
        saved = read_json(path / "state.json")
        if saved["strategy"] != trainer.strategy.describe():
            raise TransferkitError(
                f"the checkpoint in {path} was trained with {saved['strategy']}, not "
                f"{trainer.strategy.describe()}", "resume with the same strategy and options")
        if saved.get("data", trainer.data_digest) != trainer.data_digest:
            raise TransferkitError(
                f"the checkpoint in {path} was trained on other data (or another split)",
                "resume only the same run; for new data use another checkpoint folder")
        was, now = saved.get("config", {}), asdict(trainer.config)
        changed = [f"{k}={was[k]!r} (now {now[k]!r})" for k in RESUME_INVARIANT
                   if k in was and _as_json(was[k]) != _as_json(now[k])]
        if changed:
            raise TransferkitError(
                f"the checkpoint in {path} was trained with {', '.join(changed)}",
                "resume with the settings it was started with, or drop --resume to start "
                "over")
        trainer.ever_trainable = set(saved["ever_trainable"])
        fit = trainer.module.load_state_dict(load_tensors(path / "model.safetensors"),
                                             strict=False)
        if fit.unexpected_keys:
            raise TransferkitError(f"the checkpoint in {path} does not fit this model",
                                   "resume with the same backbone and strategy")
        trainer.optimizer.load_state_dict(
            torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        trainer.scheduler.load_state_dict(
            {**saved["scheduler"], "lr_lambdas": [None] * len(trainer.scheduler.lr_lambdas)})
        rng = load_tensors(path / "rng.safetensors")
        torch.set_rng_state(rng["torch"])
        name, pos, has_gauss, cached = saved["numpy_rng"]
        np.random.set_state((name, rng["numpy"].numpy().astype(np.uint32), pos, has_gauss,
                             cached))
        version, internal, gauss = saved["python_rng"]
        random.setstate((version, tuple(internal), gauss))
        if saved.get("task") is not None:
            trainer.task.set_state(saved["task"])
        best = path / "best.safetensors"
        state.best_weights = load_tensors(best) if best.is_file() else None
        state.history = saved["history"]
        state.best_epoch = saved["best_epoch"]
        state.best_key = tuple(saved["best_key"]) if saved["best_key"] else None
        state.bad_epochs = saved["bad_epochs"]
        state.start_epoch = state.resumed_from = saved["epoch"] + 1
        if saved.get("stopped_early"):
            state.start_epoch = trainer.config.epochs
            state.stopped_early = True


def _as_json(value: Any) -> Any:
    """A setting as JSON reads it back (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def existing_checkpoint(path: Path) -> Path | None:
    """The checkpoint folder at ``path``; after a crash between the two renames of an
    atomic write, the previous checkpoint left beside it."""
    if (path / "state.json").is_file():
        return path
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    return next((p for p in olds if (p / "state.json").is_file()), None)
