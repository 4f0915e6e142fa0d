"""The one training loop, shared by every strategy, on Hugging Face Accelerate.

Accelerate runs this same code in one process or under ``accelerate launch`` / torchrun
(DDP; gloo on CPU): it wraps the model in DDP, shards the batches and handles bf16 autocast.
Strategies only decide *what* trains (:mod:`transferkit.finetune.strategies`).

The loop knows no task, strategy or adaptation method by name: the **task** (what is
predicted: :mod:`transferkit.tasks`) gives the loss, activation and validation metrics; the
**objective** (what is minimised: :mod:`.objectives`) turns a batch into a loss; the
**callbacks** (:mod:`.callbacks`) score epochs, keep the best one, stop early, write
checkpoints and show progress. AdamW with linear warm-up then cosine decay.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import array_bytes
from ..errors import TransferkitError, is_finite_number
from ..tasks import Task
from .augment import make_augment
from .callbacks import (
    CKPT_FILES,
    BestEpoch,
    Callback,
    Checkpointing,
    EpochLines,
    LabelFreeSelection,
    Monitor,
    ProgressBar,
    StepHook,
    TrainState,
    ValidationScore,
)
from .model import FineTuneModel, count_parameters, set_train_modes, unwrap
from .objectives import DomainObjective, Objective, Supervised
from .strategies import Strategy, make_strategy

__all__ = ["CKPT_FILES", "Callback", "DomainObjective", "LabelFreeSelection", "Monitor",
           "Objective", "Supervised", "TrainConfig", "TrainResult", "Trainer"]



@dataclass
class TrainConfig:
    """Loop settings. ``lr=None`` takes the strategy's default backbone rate."""

    epochs: int = 3
    lr: float | None = None
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 16
    eval_batch_size: int = 64
    warmup: float = 0.1  # fraction of all steps spent warming up linearly
    patience: int | None = None  # early stopping: epochs without validation improvement
    precision: str = "no"  # "no" | "bf16" (autocast, also on CPU)
    augment: bool | dict | None = None  # None: on for image backbones
    bn: str = "auto"  # "auto" | "train" | "eval", see model.set_train_modes
    grad_clip: float | None = 1.0  # on the model only; a domain loss's discriminator or critic
    # is not clipped (as in DANN/CDAN/WDGRL: the critic is bounded by its gradient penalty)
    seed: int = 0
    num_workers: int = 0  # >0: workers start with forkserver (fork deadlocks kornia_rs)
    max_steps_per_epoch: int | None = None
    verbose: bool = False
    desc: str = ""  # shown before "epoch i/n" on the progress bar and the verbose lines

    def check(self) -> None:
        """Refuse settings out of range in one line.

        Raises
        ------
        TransferkitError
            For non-positive epochs or batch size, a negative or non-finite rate or weight
            decay, an unknown precision or BatchNorm mode.
        """
        if self.epochs < 1 or self.batch_size < 1:
            raise TransferkitError(f"epochs={self.epochs}, batch_size={self.batch_size}",
                                   "both must be >= 1")
        for name, value in (("lr", self.lr), ("head_lr", self.head_lr)):
            if value is not None and not (is_finite_number(value) and value >= 0):
                raise TransferkitError(f"{name} must be a finite number >= 0, got {value!r}",
                                       f"use e.g. {name}=1e-3 (CLI: --lr)")
        if not (is_finite_number(self.weight_decay) and self.weight_decay >= 0):
            raise TransferkitError(f"weight_decay must be >= 0, got {self.weight_decay!r}",
                                   "use e.g. weight_decay=0.01")
        if self.precision not in ("no", "bf16"):
            raise TransferkitError(f"precision '{self.precision}' is not supported",
                                   "use 'no' or 'bf16'")
        if self.bn not in ("auto", "train", "eval"):
            raise TransferkitError(f"bn='{self.bn}' is not a BatchNorm mode",
                                   "use 'auto', 'train' or 'eval'")


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    resumed_from: int | None = None  # epochs already done when resuming
    trainable_params: int = 0
    total_params: int = 0
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (history, best epoch, parameter counts, time)."""
        return asdict(self)


class _Indices(torch.utils.data.Dataset):
    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class EpochSampler(torch.utils.data.Sampler[int]):
    """A permutation that depends only on (seed, epoch): resuming at an epoch replays it."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


class Collate:
    """Indices -> (``prepare(items)`` dict, targets ``(B, ...)`` of ``dtype``; zeros for
    unlabelled items). Picklable for worker processes."""

    def __init__(self, prepare: Callable, items: Sequence[Any], targets: np.ndarray | None,
                 dtype: torch.dtype = torch.long):
        self.prepare, self.items, self.targets, self.dtype = prepare, items, targets, dtype

    def __call__(self, idx: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        inputs = self.prepare([self.items[i] for i in idx])
        targets = torch.as_tensor(self.targets[idx] if self.targets is not None
                                  else np.zeros(len(idx)), dtype=self.dtype)
        return inputs, targets


def _make_accelerator(config: TrainConfig, strategy: Strategy) -> Any:
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, PartialState

    # Accelerate keeps one process-wide state; a new precision needs a fresh one.
    AcceleratorState._reset_state(reset_partial_state=False)
    cpu = not torch.cuda.is_available()  # on CPU, torchrun's env vars -> DDP over gloo
    if PartialState(cpu=cpu).num_processes > 1 and strategy.dynamic:
        raise TransferkitError(
            f"strategy '{strategy.name}' changes what trains between epochs, which DDP "
            "cannot follow", "run it in one process, or use 'partial'/'finetune'")
    return Accelerator(
        cpu=cpu,
        mixed_precision=config.precision,
        # split_batches: the global batch is batch_size whatever the number of processes,
        # so 1 and N processes take the same optimisation steps.
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        # e.g. a Hugging Face pooler that mean pooling never uses gets no gradient
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        step_scheduler_with_optimizer=False,
    )


def warmup_cosine(total: int, warmup: float) -> Callable[[int], float]:
    """LR multiplier: linear from 0 to 1 over ``warmup*total`` steps, then cosine to 0."""
    n_warm = max(1, int(round(warmup * total))) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        progress = (step - n_warm) / max(1, total - n_warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Trainer:
    """Train ``model`` with ``strategy`` on ``objective`` (default: the supervised
    classification loss), around ``callbacks``; one instance per run.

    >>> trainer = Trainer(model, make_strategy("bitfit"), TrainConfig(epochs=2))  # doctest: +SKIP
    >>> result = trainer.fit(train_items, train_codes, val_items, val_codes)       # doctest: +SKIP
    """

    def __init__(self, model: FineTuneModel, strategy: Strategy | str,
                 config: TrainConfig | None = None,
                 checkpoint_dir: str | os.PathLike | None = None,
                 objective: Objective | None = None,
                 callbacks: Sequence[Callback] = ()):
        self.config = config or TrainConfig()
        self.config.check()
        self.strategy = make_strategy(strategy)
        self.model = model
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.objective = objective if objective is not None else Supervised()
        self.task: Task = self.objective.task
        self.extra_callbacks = list(callbacks)
        self.accelerator = _make_accelerator(self.config, self.strategy)
        if self.objective.single_process and (self.accelerator.num_processes > 1
                                              or self.checkpoint_dir):
            raise TransferkitError("deep domain adaptation runs in one process, without "
                                   "checkpoints/resume", "launch it without torchrun/--resume")
        _seed_everything(self.config.seed)
        self.module = self.strategy.apply(model)  # may wrap (LoRA); after seeding (inits)
        self.lr = self.config.lr if self.config.lr is not None else self.strategy.default_lr
        self.augment = make_augment(
            True if self.config.augment is None else self.config.augment,
            model.backbone.preprocessing)
        self.ever_trainable: set[str] = set()
        self.data_digest: str | None = None

    # ------------------------------------------------------------------ setup
    def _optimizer(self) -> torch.optim.Optimizer:
        groups = self.strategy.param_groups(self.module, self.lr, self.config.head_lr)
        if not groups:
            raise TransferkitError(f"strategy '{self.strategy.name}' leaves nothing to train",
                                   "pick another strategy")
        extra = self.objective.parameters()
        if extra:
            groups.append({"params": extra, "lr": self.config.head_lr})
        return torch.optim.AdamW(groups, weight_decay=self.config.weight_decay)

    def loader_for(self, items: Sequence[Any], targets: np.ndarray | None, train: bool,
                   seed_offset: int = 0) -> Any:
        """A data loader over ``items`` (``targets``: encoded, or None for unlabelled);
        training loaders reshuffle per epoch, seeded by (seed + ``seed_offset``, epoch)."""
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if cfg.num_workers > 0:
            kwargs = {"num_workers": cfg.num_workers, "persistent_workers": True,
                      "multiprocessing_context": "forkserver"}
        sampler = EpochSampler(len(items), cfg.seed + seed_offset) if train else None
        return torch.utils.data.DataLoader(
            _Indices(len(items)), batch_size=cfg.batch_size if train else cfg.eval_batch_size,
            sampler=sampler, shuffle=False,
            collate_fn=Collate(unwrap(self.module).backbone.prepare, items, targets,
                               self.task.target_dtype), **kwargs)

    @property
    def progress(self) -> float:
        """The fraction of all training steps done (0 -> 1)."""
        return self._steps_done / max(1, self._total_steps)

    def epoch_label(self, epoch: int) -> str:
        """``"<desc> epoch i/n"``, counted from 1 (bars and epoch lines)."""
        return f"{self.config.desc} epoch {epoch + 1}/{self.config.epochs}".lstrip()

    # ------------------------------------------------------------------ steps
    def augmented(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``inputs`` with the training augmentation applied to its images, if any."""
        if self.augment is not None and "pixel_values" in inputs:
            return {**inputs, "pixel_values": self.augment(inputs["pixel_values"])}
        return inputs

    def train_step(self, inputs: dict[str, torch.Tensor], targets: torch.Tensor) -> float:
        """One optimisation step on a batch; returns the task loss (without the strategy's
        penalty or the objective's extra terms)."""
        acc = self.accelerator
        inputs = self.augmented(inputs)
        with acc.autocast():
            loss, total = self.objective.loss(self, inputs, targets)
            penalty = self.strategy.regularizer(self.prepared)
            if penalty is not None:
                total = total + penalty
        if not torch.isfinite(total.detach()):
            raise TrainingDiverged(
                f"training diverged: the loss became {float(total.detach()):g} at step "
                f"{self._steps_done + 1}", self.objective.divergence_fix)
        acc.backward(total)
        self._steps_done += 1
        if self.config.grad_clip:
            params = [p for p in self.prepared.parameters() if p.grad is not None]
            acc.clip_grad_norm_(params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def evaluate(self, items: Sequence[Any], targets: np.ndarray) -> dict[str, float]:
        """The task's validation metrics on ``items`` (every process evaluates them all)."""
        predictions = predict_outputs(self.module, items, self.config.eval_batch_size,
                                      self.config.precision, features=False,
                                      activate=self.task.activate)[1]
        return self.task.validation(np.asarray(targets), predictions)

    # ------------------------------------------------------------------ fit
    def setup(self, train_items: Sequence[Any], train_targets: np.ndarray) -> None:
        """Build optimizer, scheduler and loader (and wrap them with Accelerate)."""
        cfg = self.config
        self.data_digest = (data_digest(train_items, np.asarray(train_targets))
                            if self.checkpoint_dir is not None else None)  # only to resume
        loader = self.loader_for(train_items, np.asarray(train_targets), train=True)
        self.sampler = loader.sampler
        self.optimizer = self._optimizer()
        self.prepared, self.optimizer, self.loader = self.accelerator.prepare(
            self.module, self.optimizer, loader)
        steps = len(self.loader)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        self.steps_per_epoch = steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer.optimizer if hasattr(self.optimizer, "optimizer") else self.optimizer,
            warmup_cosine(steps * cfg.epochs, cfg.warmup))
        self._steps_done, self._total_steps = 0, steps * cfg.epochs
        self.objective.setup(self)

    def callbacks_for(self, val_items: Sequence[Any] | None, val_targets: Any, resume: bool,
                      on_step: Callable[[int, int], None] | None) -> list[Callback]:
        """The run's callbacks, in call order: scoring (validation, unless a given callback
        scores), the given ones, best epoch / early stopping, what the user sees, then
        checkpoints (which save what the others decided)."""
        given = list(self.extra_callbacks)
        scoring: list[Callback] = []
        if (not any(isinstance(c, LabelFreeSelection) for c in given)
                and val_items is not None and len(val_items)):
            scoring.append(ValidationScore(val_items, np.asarray(val_targets)))
        shown: list[Callback] = [ProgressBar()]
        if self.config.verbose:
            shown.append(EpochLines())
        if on_step is not None:
            shown.append(StepHook(on_step))
        saving: list[Callback] = []
        if self.checkpoint_dir is not None:
            saving.append(Checkpointing(self.checkpoint_dir, resume))
        elif resume:
            raise TransferkitError("resume needs a checkpoint folder",
                                   "pass checkpoint_dir (CLI: the --out of the run)")
        return [*scoring, *given, BestEpoch(self.config.patience), *shown, *saving]

    def open_parameters(self) -> dict[str, torch.nn.Parameter]:
        """Parameters that train from this epoch on for the first time (``gradual``)."""
        opened = {n: p for n, p in self.module.named_parameters()
                  if p.requires_grad and n not in self.ever_trainable}
        self.ever_trainable |= set(opened)
        return opened

    def fit(self, train_items: Sequence[Any], train_targets: Any,
            val_items: Sequence[Any] | None = None, val_targets: Any = None,
            resume: bool = False,
            on_step: Callable[[int, int], None] | None = None) -> TrainResult:
        """Train for ``config.epochs`` (fewer with early stopping) and load the weights of
        the best epoch (the last epoch when nothing scores epochs).

        ``train_targets``/``val_targets``: encoded by the task. ``resume=True`` continues
        from ``checkpoint_dir`` when it holds a checkpoint. ``on_step(epoch, step)`` is
        called after every step (progress, tests)."""
        cfg = self.config
        t0 = time.perf_counter()
        self.setup(train_items, train_targets)
        callbacks = self.callbacks_for(val_items, val_targets, resume, on_step)
        state = TrainState()
        for cb in callbacks:
            cb.on_train_begin(self, state)
        self._steps_done = state.start_epoch * self.steps_per_epoch
        for epoch in range(state.start_epoch, cfg.epochs):
            self.strategy.on_epoch_start(self.prepared, epoch)
            opened = self.open_parameters()
            for cb in callbacks:
                cb.on_epoch_begin(self, state, epoch, opened)
            record = self._train_epoch(epoch, callbacks, state)
            for cb in callbacks:
                cb.on_epoch_end(self, state, epoch, record)
            if state.should_stop:
                break
        for cb in callbacks:
            cb.on_train_end(self, state)
        self.module.eval()
        return self._result(state, time.perf_counter() - t0)

    def _train_epoch(self, epoch: int, callbacks: list[Callback], state: TrainState
                     ) -> dict[str, Any]:
        """One epoch's steps; returns its record (epoch, mean train loss, last lr)."""
        set_train_modes(self.prepared, self.config.bn)
        self.objective.train()
        self.sampler.set_epoch(epoch)
        if hasattr(self.loader, "set_epoch"):  # Accelerate re-sets the sampler's epoch
            self.loader.set_epoch(epoch)  # from its own counter: keep them equal
        losses = []
        for step, (inputs, targets) in enumerate(self.loader):
            if step >= self.steps_per_epoch:
                break
            losses.append(self.train_step(inputs, targets))
            for cb in callbacks:
                cb.on_step_end(self, state, epoch, step, losses[-1])
        train_loss = self.accelerator.reduce(torch.tensor(float(np.mean(losses))),
                                             reduction="mean")
        return {"epoch": epoch, "train_loss": float(train_loss),
                "lr": float(self.scheduler.get_last_lr()[0])}

    def _result(self, state: TrainState, wall_s: float) -> TrainResult:
        result = TrainResult(history=state.history, best_epoch=state.best_epoch,
                             stopped_early=state.stopped_early,
                             resumed_from=state.resumed_from, wall_s=wall_s)
        result.trainable_params, result.total_params = count_parameters(self.module)
        if result.trainable_params == 0:  # gradual ends with all open; count what trained
            result.trainable_params = sum(p.numel() for n, p in self.module.named_parameters()
                                          if n in self.ever_trainable)
        self.accelerator.wait_for_everyone()
        return result

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of every tensor that training can change: params that trained, buffers."""
        params = dict(self.module.named_parameters())
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()
                if k in self.ever_trainable or k not in params}


class TrainingDiverged(TransferkitError):
    """The loss became NaN/inf (``lr_find`` ends its sweep on it; a fit stops)."""


def data_digest(items: Sequence[Any], targets: np.ndarray) -> str:
    """A cheap identity of a training set (its items and targets): a checkpoint is resumed
    only on the data it was trained on (e.g. not on the next cross-validation fold)."""
    targets = np.asarray(targets)
    h = hashlib.sha256(np.ascontiguousarray(
        targets, dtype=np.int64 if targets.dtype.kind in "iub" else np.float64).tobytes())
    if isinstance(items, np.ndarray):
        h.update(str(items.shape).encode())
        h.update(array_bytes(items))
    else:
        for item in items:
            h.update(item.encode() if isinstance(item, str) else
                     array_bytes(item) if isinstance(item, np.ndarray) else
                     repr(type(item)).encode())
            h.update(b"\0")
    return h.hexdigest()[:24]


def _seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (weight inits, dropout, augmentation)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict_proba(model: torch.nn.Module, items: Sequence[Any], batch_size: int = 64,
                  precision: str = "no") -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` of a (possibly wrapped) FineTuneModel, in eval
    mode, batch by batch; bf16 autocast when ``precision == "bf16"``."""
    return predict_outputs(model, items, batch_size, precision, features=False)[1]


def softmax_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (float64) of logits ``(N, C)``."""
    return torch.softmax(logits.float(), dim=1).double()


def predict_outputs(model: torch.nn.Module, items: Sequence[Any], batch_size: int = 64,
                    precision: str = "no", features: bool = True,
                    activate: Callable[[torch.Tensor], torch.Tensor] = softmax_probabilities,
                    ) -> tuple[np.ndarray | None, np.ndarray]:
    """Backbone features ``(N, D)`` (float32; None unless ``features``) and the activated
    outputs ``(N, out_features)`` (``activate``: a task's; default class probabilities)."""
    inner = unwrap(model)
    device = next(inner.parameters()).device
    was_training = model.training
    model.eval()
    feats, probs = [], []
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                    enabled=precision == "bf16"):
            for start in range(0, len(items), batch_size):
                inputs = inner.backbone.prepare([items[i] for i in
                                                 range(start, min(start + batch_size,
                                                                  len(items)))])
                f, logits = model(return_features=True,
                                  **{k: v.to(device) for k, v in inputs.items()})
                if features:
                    feats.append(f.float().cpu().numpy())
                probs.append(activate(logits).cpu().numpy())
    finally:
        model.train(was_training)
    if not probs:
        return (np.zeros((0, inner.backbone.feature_dim), np.float32) if features else None,
                np.zeros((0, inner.head.out_features)))
    proba = np.concatenate(probs)
    if not np.isfinite(proba).all():
        raise TransferkitError("the model outputs NaN: its weights diverged in training",
                               "lower the learning rate (--lr; in domain adaptation also "
                               "--trade-off)")
    return (np.concatenate(feats) if features else None), proba
