"""The one training loop, shared by every strategy, on Hugging Face Accelerate.

Accelerate runs this same code in one process or under ``accelerate launch`` / torchrun
(DDP; gloo on CPU): it wraps the model in DDP, shards the batches and handles bf16 autocast.
Strategies only decide *what* trains (:mod:`transferkit.finetune.strategies`).

Features: AdamW, linear warm-up then cosine decay, model selection and early stopping on the
validation split only, atomic per-epoch checkpoints (safetensors weights, optimizer state
read back with ``weights_only=True``, JSON state with the RNG states) and exact ``resume``.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._io import atomic_dir, load_tensors, read_json, save_tensors, write_json
from ..errors import TransferkitError, is_finite_number
from .augment import make_augment
from .model import FineTuneModel, count_parameters, set_train_modes, unwrap
from .strategies import Strategy, make_strategy

CKPT_FILES = ("model.safetensors", "optimizer.pt", "rng.safetensors", "state.json")


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
        return asdict(self)


@dataclass
class DomainObjective:
    """Deep domain adaptation in the same loop: unlabelled ``target_items`` are drawn batch by
    batch beside the labelled source batches, and ``trade_off * loss(features_s, features_t,
    logits_s, logits_t)`` is added to the source cross-entropy (``loss``: a
    :class:`transferkit.adapt.deep.DomainLoss`; its parameters train at ``head_lr``).

    ``selector(module) -> {"selection_score": s, ...}`` scores each epoch without target
    labels (the best epoch maximises it); ``monitor(module) -> dict`` adds metrics to the
    history that are never used for selection (e.g. the labelled ``--oracle`` score)."""

    loss: torch.nn.Module | None  # None: source only (the selector still picks the epoch)
    target_items: Sequence[Any]
    trade_off: float = 1.0
    selector: Callable[[torch.nn.Module], dict[str, float]] | None = None
    monitor: Callable[[torch.nn.Module], dict[str, float]] | None = None


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
    """Indices -> (``prepare(items)`` dict, labels ``(B,)``). Picklable for worker processes."""

    def __init__(self, prepare: Callable, items: Sequence[Any], codes: np.ndarray | None):
        self.prepare, self.items, self.codes = prepare, items, codes

    def __call__(self, idx: list[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        inputs = self.prepare([self.items[i] for i in idx])
        labels = torch.as_tensor(self.codes[idx] if self.codes is not None
                                 else np.zeros(len(idx)), dtype=torch.long)
        return inputs, labels


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
    """Train ``model`` with ``strategy``; one instance per run.

    >>> trainer = Trainer(model, make_strategy("bitfit"), TrainConfig(epochs=2))  # doctest: +SKIP
    >>> result = trainer.fit(train_items, train_codes, val_items, val_codes)       # doctest: +SKIP
    """

    def __init__(self, model: FineTuneModel, strategy: Strategy | str,
                 config: TrainConfig | None = None,
                 checkpoint_dir: str | os.PathLike | None = None,
                 domain: DomainObjective | None = None):
        self.config = config or TrainConfig()
        self.config.check()
        self.strategy = make_strategy(strategy)
        self.model = model
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.domain = domain
        self._domain_loss = None if domain is None else domain.loss
        self.accelerator = _make_accelerator(self.config, self.strategy)
        if domain is not None and (self.accelerator.num_processes > 1 or self.checkpoint_dir):
            raise TransferkitError("deep domain adaptation runs in one process, without "
                                   "checkpoints/resume", "launch it without torchrun/--resume")
        _seed_everything(self.config.seed)
        self.module = self.strategy.apply(model)  # may wrap (LoRA); after seeding (inits)
        self.lr = self.config.lr if self.config.lr is not None else self.strategy.default_lr
        self.augment = make_augment(
            True if self.config.augment is None else self.config.augment,
            model.backbone.preprocessing)
        self._ever_trainable: set[str] = set()

    # ------------------------------------------------------------------ setup
    def _optimizer(self) -> torch.optim.Optimizer:
        groups = self.strategy.param_groups(self.module, self.lr, self.config.head_lr)
        if not groups:
            raise TransferkitError(f"strategy '{self.strategy.name}' leaves nothing to train",
                                   "pick another strategy")
        domain_params = list(self._domain_loss.parameters()) if self._domain_loss else []
        if domain_params:
            groups.append({"params": domain_params, "lr": self.config.head_lr})
        return torch.optim.AdamW(groups, weight_decay=self.config.weight_decay)

    def _loader(self, items: Sequence[Any], codes: np.ndarray | None, train: bool,
                seed_offset: int = 0) -> Any:
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if cfg.num_workers > 0:
            kwargs = {"num_workers": cfg.num_workers, "persistent_workers": True,
                      "multiprocessing_context": "forkserver"}
        sampler = EpochSampler(len(items), cfg.seed + seed_offset) if train else None
        return torch.utils.data.DataLoader(
            _Indices(len(items)), batch_size=cfg.batch_size if train else cfg.eval_batch_size,
            sampler=sampler, shuffle=False,
            collate_fn=Collate(unwrap(self.module).backbone.prepare, items, codes), **kwargs)

    # ------------------------------------------------------------------ steps
    def _augmented(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.augment is not None and "pixel_values" in inputs:
            return {**inputs, "pixel_values": self.augment(inputs["pixel_values"])}
        return inputs

    def _next_target(self) -> dict[str, torch.Tensor]:
        """The next unlabelled target batch (the target loader cycles, reshuffled per pass)."""
        batch = next(self._target_iter, None)
        if batch is None:
            self._target_passes += 1
            self._target_loader.sampler.set_epoch(self._target_passes)
            self._target_iter = iter(self._target_loader)
            batch = next(self._target_iter)
        device = self.accelerator.device  # the source batches are moved by Accelerate
        return self._augmented({k: v.to(device) for k, v in batch[0].items()})

    def _domain_forward(self, inputs: dict[str, torch.Tensor]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Source logits and the domain term. Source and target go through the model in one
        batch when their tensors have the same shape (BatchNorm then sees both domains)."""
        target = self._next_target()
        n = next(iter(inputs.values())).shape[0]
        if all(inputs[k].shape[1:] == target[k].shape[1:] for k in inputs):
            joint = {k: torch.cat([inputs[k], target[k]]) for k in inputs}
            features, logits = self.prepared(return_features=True, **joint)
            f_s, f_t, z_s, z_t = features[:n], features[n:], logits[:n], logits[n:]
        else:  # e.g. text batches padded to different lengths
            f_s, z_s = self.prepared(return_features=True, **inputs)
            f_t, z_t = self.prepared(return_features=True, **target)
        self._domain_loss.progress = self._steps_done / max(1, self._total_steps)
        term = self._domain_loss(f_s.float(), f_t.float(), z_s.float(), z_t.float())
        return z_s, self.domain.trade_off * term

    def train_step(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> float:
        """One optimisation step on a batch; returns the cross-entropy (without penalty or
        domain term)."""
        acc = self.accelerator
        inputs = self._augmented(inputs)
        with acc.autocast():
            if self._domain_loss is None:
                logits, domain_term = self.prepared(**inputs), None
            else:
                logits, domain_term = self._domain_forward(inputs)
            loss = F.cross_entropy(logits.float(), labels)
            total = loss
            for extra in (self.strategy.regularizer(self.prepared), domain_term):
                if extra is not None:
                    total = total + extra
        if not torch.isfinite(total.detach()):
            raise TrainingDiverged(
                f"training diverged: the loss became {float(total.detach()):g} at step "
                f"{self._steps_done + 1}",
                "lower the learning rate (--lr)" + (" or the trade-off (--trade-off)"
                                                    if self._domain_loss is not None else ""))
        acc.backward(total)
        self._steps_done += 1
        if self.config.grad_clip:
            params = [p for p in self.prepared.parameters() if p.grad is not None]
            acc.clip_grad_norm_(params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def evaluate(self, items: Sequence[Any], codes: np.ndarray) -> dict[str, float]:
        """Validation loss and accuracy (every process evaluates the whole split)."""
        proba = predict_proba(self.module, items, self.config.eval_batch_size,
                              self.config.precision)
        p = np.clip(proba[np.arange(len(codes)), codes], 1e-12, None)
        return {"val_loss": float(-np.log(p).mean()),
                "val_accuracy": float((proba.argmax(1) == codes).mean())}

    # ------------------------------------------------------------------ fit
    def setup(self, train_items: Sequence[Any], train_codes: np.ndarray) -> None:
        """Build optimizer, scheduler and loader (and wrap them with Accelerate)."""
        cfg = self.config
        self._data_digest = (data_digest(train_items, np.asarray(train_codes))
                             if self.checkpoint_dir is not None else None)  # only to resume
        loader = self._loader(train_items, np.asarray(train_codes), train=True)
        self.sampler = loader.sampler
        if self._domain_loss is not None:  # its discriminator/critic lives with the model
            self._domain_loss.to(self.accelerator.device)
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
        if self._domain_loss is not None:
            if not len(self.domain.target_items):
                raise TransferkitError("the target domain holds no samples",
                                       "give unlabelled target data")
            self._target_loader = self._loader(self.domain.target_items, None, train=True,
                                               seed_offset=7919)
            self._target_passes = 0
            self._target_iter = iter(self._target_loader)

    def fit(self, train_items: Sequence[Any], train_codes: Any,
            val_items: Sequence[Any] | None = None, val_codes: Any = None,
            resume: bool = False,
            on_step: Callable[[int, int], None] | None = None) -> TrainResult:
        """Train for ``config.epochs`` (fewer with early stopping) and load the weights of
        the best validation epoch (the last epoch when there is no validation split).

        ``resume=True`` continues from ``checkpoint_dir`` when it holds a checkpoint.
        ``on_step(epoch, step)`` is called after every step (progress, tests)."""
        cfg, acc = self.config, self.accelerator
        t0 = time.perf_counter()
        self.setup(train_items, train_codes)
        val_codes = None if val_codes is None else np.asarray(val_codes)
        result = TrainResult()
        best_key: tuple[float, float] | None = None
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs, start = 0, 0
        if resume:
            loaded = self._load_checkpoint()
            if loaded is not None:
                start, state, best_state = loaded
                result.history = state["history"]
                result.best_epoch = state["best_epoch"]
                best_key = tuple(state["best_key"]) if state["best_key"] else None
                bad_epochs = state["bad_epochs"]
                result.resumed_from = start
                if state.get("stopped_early"):
                    start = cfg.epochs
                    result.stopped_early = True
        self._steps_done = start * self.steps_per_epoch
        for epoch in range(start, cfg.epochs):
            self.strategy.on_epoch_start(self.prepared, epoch)
            opened = {n: p for n, p in self.module.named_parameters()
                      if p.requires_grad and n not in self._ever_trainable}
            if best_state is not None:  # frozen until now, so as they were at the best epoch
                best_state.update({n: p.detach().clone() for n, p in opened.items()
                                   if n not in best_state})
            self._ever_trainable |= set(opened)
            set_train_modes(self.prepared, cfg.bn)
            if self._domain_loss is not None:
                self._domain_loss.train()
            self.sampler.set_epoch(epoch)
            if hasattr(self.loader, "set_epoch"):  # Accelerate re-sets the sampler's epoch
                self.loader.set_epoch(epoch)  # from its own counter: keep them equal
            losses = []
            label = f"{cfg.desc} epoch {epoch + 1}/{cfg.epochs}".lstrip()
            with tqdm(total=self.steps_per_epoch, desc=label,
                      unit="step", leave=False,
                      disable=not (cfg.verbose and acc.is_main_process)) as bar:
                for step, (inputs, labels) in enumerate(self.loader):
                    if step >= self.steps_per_epoch:
                        break
                    losses.append(self.train_step(inputs, labels))
                    bar.update()
                    if on_step is not None:
                        on_step(epoch, step)
            train_loss = acc.reduce(torch.tensor(float(np.mean(losses))), reduction="mean")
            record = {"epoch": epoch, "train_loss": float(train_loss),
                      "lr": float(self.scheduler.get_last_lr()[0])}
            if self.domain is not None and self.domain.selector is not None:
                record |= self.domain.selector(self.module)
                key = (record["selection_score"],)
                if not math.isfinite(key[0]):
                    raise TransferkitError(
                        f"the epoch selector's score is {key[0]} at epoch {epoch + 1}",
                        "use another --selector (dev, the default, or last)")
            elif val_items is not None and len(val_items):
                record |= self.evaluate(val_items, val_codes)
                key = (record["val_accuracy"], -record["val_loss"])
            else:
                key = None
            if self.domain is not None and self.domain.monitor is not None:
                record |= self.domain.monitor(self.module)
            if key is not None:
                if best_key is None or key > best_key:
                    best_key, best_state = key, self._snapshot()
                    result.best_epoch, bad_epochs = epoch, 0
                else:
                    bad_epochs += 1
            else:
                result.best_epoch = epoch
            result.history.append(record)
            if cfg.verbose and acc.is_main_process:  # progress, so stderr: stdout has results
                print(f"  {label}  " + "  ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items() if k != "epoch"), file=sys.stderr, flush=True)
            stop = bool(cfg.patience and bad_epochs >= cfg.patience)
            self._save_checkpoint(epoch, result, best_key, bad_epochs, best_state, stop)
            if stop:
                result.stopped_early = True
                break
        if best_state is not None:
            self.module.load_state_dict(best_state, strict=False)
        self.module.eval()
        result.trainable_params, result.total_params = count_parameters(self.module)
        if result.trainable_params == 0:  # gradual ends with all open; count what trained
            result.trainable_params = sum(p.numel() for n, p in self.module.named_parameters()
                                          if n in self._ever_trainable)
        result.wall_s = time.perf_counter() - t0
        acc.wait_for_everyone()
        return result

    # ------------------------------------------------------------------ checkpoints
    def _snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of every tensor that training can change: params that trained, buffers."""
        params = dict(self.module.named_parameters())
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()
                if k in self._ever_trainable or k not in params}

    def _save_checkpoint(self, epoch: int, result: TrainResult, best_key: Any, bad: int,
                         best_state: dict[str, torch.Tensor] | None, stop: bool) -> None:
        if self.checkpoint_dir is None:
            return
        acc = self.accelerator
        if acc.is_main_process:
            with atomic_dir(self.checkpoint_dir) as stage:
                save_tensors(stage / "model.safetensors", self._snapshot())
                if best_state is not None:
                    save_tensors(stage / "best.safetensors", best_state)
                torch.save(self.optimizer.state_dict(), stage / "optimizer.pt")
                np_state = np.random.get_state()
                save_tensors(stage / "rng.safetensors", {
                    "torch": torch.get_rng_state(),
                    "numpy": torch.from_numpy(np_state[1].astype(np.int64))})
                py_state = random.getstate()
                sched = {k: v for k, v in self.scheduler.state_dict().items()
                         if k != "lr_lambdas"}
                write_json(stage / "state.json", {
                    "epoch": epoch, "history": result.history, "best_epoch": result.best_epoch,
                    "best_key": list(best_key) if best_key else None, "bad_epochs": bad,
                    "stopped_early": stop, "scheduler": sched,
                    "ever_trainable": sorted(self._ever_trainable),
                    "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]),
                                  float(np_state[4])],
                    "python_rng": [py_state[0], list(py_state[1]), py_state[2]],
                    "strategy": self.strategy.describe(), "config": asdict(self.config),
                    "data": self._data_digest,
                })
        acc.wait_for_everyone()

    def _load_checkpoint(self) -> tuple[int, dict, dict | None] | None:
        """Restore weights, optimizer, scheduler and RNG states; returns (next epoch, state,
        best weights) or None when there is no checkpoint."""
        if self.checkpoint_dir is None:
            raise TransferkitError("resume needs a checkpoint folder",
                                   "pass checkpoint_dir (CLI: the --out of the run)")
        path = _existing_checkpoint(self.checkpoint_dir)
        if path is None:
            return None
        state = read_json(path / "state.json")
        if state["strategy"] != self.strategy.describe():
            raise TransferkitError(
                f"the checkpoint in {path} was trained with {state['strategy']}, not "
                f"{self.strategy.describe()}", "resume with the same strategy and options")
        if state.get("data", self._data_digest) != self._data_digest:
            raise TransferkitError(
                f"the checkpoint in {path} was trained on other data (or another split)",
                "resume only the same run; for new data use another checkpoint folder")
        self._ever_trainable = set(state["ever_trainable"])
        missing_ok = self.module.load_state_dict(load_tensors(path / "model.safetensors"),
                                                 strict=False)
        if missing_ok.unexpected_keys:
            raise TransferkitError(f"the checkpoint in {path} does not fit this model",
                                   "resume with the same backbone and strategy")
        self.optimizer.load_state_dict(
            torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        self.scheduler.load_state_dict({**state["scheduler"],
                                        "lr_lambdas": [None] * len(self.scheduler.lr_lambdas)})
        rng = load_tensors(path / "rng.safetensors")
        torch.set_rng_state(rng["torch"])
        name, pos, has_gauss, cached = state["numpy_rng"]
        np.random.set_state((name, rng["numpy"].numpy().astype(np.uint32), pos, has_gauss,
                             cached))
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
        best = path / "best.safetensors"
        best_state = load_tensors(best) if best.is_file() else None
        return state["epoch"] + 1, state, best_state


def _existing_checkpoint(path: Path) -> Path | None:
    if (path / "state.json").is_file():
        return path
    # a crash between the two renames of atomic_dir leaves only the previous checkpoint
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    return next((p for p in olds if (p / "state.json").is_file()), None)


class TrainingDiverged(TransferkitError):
    """The loss became NaN/inf (``lr_find`` ends its sweep on it; a fit stops)."""


def data_digest(items: Sequence[Any], codes: np.ndarray) -> str:
    """A cheap identity of a training set (its items and labels): a checkpoint is resumed
    only on the data it was trained on (e.g. not on the next cross-validation fold)."""
    h = hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes())
    if isinstance(items, np.ndarray):
        h.update(str(items.shape).encode())
        h.update(np.ascontiguousarray(items).tobytes())
    else:
        for item in items:
            h.update(item.encode() if isinstance(item, str) else
                     np.asarray(item).tobytes() if isinstance(item, np.ndarray) else
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


def predict_outputs(model: torch.nn.Module, items: Sequence[Any], batch_size: int = 64,
                    precision: str = "no", features: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray]:
    """Backbone features ``(N, D)`` (float32; None unless ``features``) and class
    probabilities ``(N, n_classes)``."""
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
                probs.append(torch.softmax(logits.float(), dim=1).double().cpu().numpy())
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
