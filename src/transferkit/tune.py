"""``transferkit tune``: an Optuna search over the strategy, its options, the head's settings
and the loop's learning rate and weight decay.

Every trial is fitted on one fixed split (seed 0: the same train / validation / test indices
in every trial) and its objective value is the validation accuracy; the test split is scored
once at the end, for the best configuration and, beside it, the default one.

Search spaces live beside their code, never in a table here:
:meth:`Strategy.search_space <transferkit.finetune.strategies.base.Strategy.search_space>`,
:meth:`Head.search_space <transferkit.heads.base.Head.search_space>`; this module only adds
the loop's shared settings (:func:`loop_space`) and picks the strategy. Pruning is a loop
callback (:class:`OptunaPruning`). The study lives in an Optuna storage (SQLite in the run
dir by default): rerunning the same command resumes it, and several processes (or machines,
with ``--storage``) can share it.

>>> space = TuneSpace(strategies=("linear-probe", "partial"), backbone="minilm")  # doctest: +SKIP
>>> result = run_study(space, split, "sqlite:///t/study.db", "t", n_trials=12)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from .errors import TransferkitError
from .finetune.callbacks import Callback

__all__ = ["DEFAULT_STRATEGIES", "AdaptSpace", "FixedSplit", "OptunaPruning", "TuneResult",
           "TuneSpace", "importances", "load_study", "loop_space",
           "open_storage", "run_study", "scores", "trial_records", "tune_document"]

#: the strategies ``tune`` chooses among when none are named
DEFAULT_STRATEGIES = ("linear-probe", "partial", "finetune")
#: the SQLite file of a run dir's study
STUDY_FILE = "study.db"
#: the study's user attribute holding the settings a resumed run must share
SETTINGS_ATTR = "transferkit_settings"
#: each task's objective: the validation metric maximised, and its name in words
OBJECTIVES = {"classification": ("accuracy", "validation accuracy"),
              "multilabel": ("map", "validation mAP"),
              "regression": ("r2", "validation R²")}
#: a running trial with no heartbeat for this long belongs to a killed process
GRACE_S = 120


class OptunaPruning(Callback):
    """Report each epoch's validation score to an Optuna trial and stop the trial when the
    study's pruner says so.

    The score is the first entry of the epoch's selection key (``state.score``, set by the
    scoring callback before this one: the validation accuracy, or a label-free score such
    as DEV in domain adaptation); epochs without a score report nothing.

    Parameters
    ----------
    trial : optuna.Trial
        The running trial.

    Raises
    ------
    optuna.TrialPruned
        From :meth:`on_epoch_end` when ``trial.should_prune()``.
    """

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def on_epoch_end(self, trainer, state, epoch, record):
        if state.score is None:
            return
        self.trial.report(float(state.score[0]), epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} (validation score "
                                     f"{state.score[0]:.4g})")


def loop_space(trial: optuna.Trial, default_lr: float) -> dict[str, float]:
    """The fine-tuning loop's settings shared by every strategy: the backbone learning rate,
    log-uniform over a decade either side of the strategy's default, and the weight decay,
    log-uniform over 1e-6 .. 0.1.

    Parameters
    ----------
    trial : optuna.Trial
    default_lr : float
        The strategy's :attr:`~transferkit.finetune.strategies.base.Strategy.default_lr`.

    Returns
    -------
    dict
        ``{"lr": float, "weight_decay": float}``.
    """
    return {"lr": trial.suggest_float("lr", default_lr / 10, default_lr * 10, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 0.1, log=True)}


@dataclass
class FixedSplit:
    """The one split every trial uses: inputs and labels of train, validation and test
    (``X_test`` None: nothing to test on), and for domain adaptation the unlabelled
    target inputs ``X_target``."""

    X_train: Any
    y_train: np.ndarray
    X_val: Any
    y_val: np.ndarray
    X_test: Any
    y_test: np.ndarray | None
    protocol: str
    X_target: Any = None


@dataclass
class TuneSpace:
    """What a study searches and what it keeps fixed.

    Parameters
    ----------
    strategies : tuple of str
        The candidate strategies (registered names); ``linear-probe`` is the cached frozen
        path with the registered ``head``, the others train through the loop.
    backbone : str
        The backbone of every trial.
    head : str
        The frozen path's head (its :meth:`~transferkit.heads.base.Head.search_space` is
        searched in ``linear-probe`` trials).
    epochs : int
        Epochs of a loop trial (the best epoch is kept; pruning looks at each).
    context : dict
        Passed to the strategies' ``search_space`` (``layer_groups``).
    batch_size, engine, threshold_metric
        Fixed settings of every fit.
    task : str
        ``"classification"``, ``"multilabel"`` (targets: label sets; validation mAP is the
        objective) or ``"regression"`` (targets: values; validation R², which orders
        trials as validation RMSE does). ``head`` None takes the task's default head.
    """

    strategies: tuple[str, ...]
    backbone: str
    head: str | None = "logistic"
    epochs: int = 3
    context: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    engine: str = "auto"
    threshold_metric: str | None = "f1"
    task: str = "classification"

    @property
    def objective_metric(self) -> str:
        """The validation metric a trial maximises."""
        return OBJECTIVES[self.task][0]

    @property
    def objective_name(self) -> str:
        """The objective in words."""
        return OBJECTIVES[self.task][1]

    @property
    def objective_key(self) -> str:
        """The objective as a metric name (the comparison's column)."""
        return f"val_{self.objective_metric}"

    @property
    def shown(self) -> tuple[str, ...]:
        """The test metrics of the comparison table."""
        from .experiment import TASK_METRICS
        from .metrics import SHOWN

        return TASK_METRICS.get(self.task, SHOWN)

    def check(self) -> None:
        """Refuse, in one line, a space where nothing is searched (no strategy, or one
        whose options, the head's settings and the loop's are all fixed).

        Raises
        ------
        TransferkitError
        """
        from .finetune.strategies import STRATEGIES
        from .heads import HEADS, head_for_task

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per in-memory study
        if self.task not in OBJECTIVES:
            raise TransferkitError(f"tune cannot search a {self.task} task",
                                   f"use --task {', '.join(OBJECTIVES)}")
        self.head = head_for_task(self.head, self.task)  # one line for another task's head
        if not self.strategies:
            raise TransferkitError("the search space is empty: no strategy to try",
                                   "name at least one, e.g. --strategies linear-probe,partial")
        for name in self.strategies:
            STRATEGIES.get(name)  # an unknown name: one line listing the known ones
        HEADS.get(self.head)
        if len(self.strategies) > 1:
            return
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = probe.ask()
        self.suggest(trial)
        if not any(not d.single() for d in trial.distributions.values()):
            raise TransferkitError(
                f"the search space is empty: strategy '{self.strategies[0]}'"
                + (f" with head '{self.head}'" if self.frozen(self.strategies[0]) else "")
                + " has nothing to search", "add strategies (--strategies linear-probe,"
                "partial,finetune) or use a head with settings to search (--head logistic)")

    @staticmethod
    def frozen(strategy: str) -> bool:
        """Whether ``strategy`` is the cached frozen path (a head on fixed features)."""
        return strategy == "linear-probe"

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """One trial's configuration: the strategy (a categorical among :attr:`strategies`
        when there are several), then that strategy's search space and, for the frozen path,
        the head's, else the loop's shared settings (:func:`loop_space`).

        Returns
        -------
        dict
            ``{"strategy", "strategy_params", "head", "head_params", "loop"}``.
        """
        from .finetune.strategies import STRATEGIES
        from .heads import HEADS

        name = (trial.suggest_categorical("strategy", list(self.strategies))
                if len(self.strategies) > 1 else self.strategies[0])
        cls = STRATEGIES.get(name)
        config: dict[str, Any] = {"strategy": name,
                                  "strategy_params": cls.search_space(trial, **self.context),
                                  "head": None, "head_params": {}, "loop": {}}
        if self.frozen(name):
            config["head"] = self.head
            config["head_params"] = HEADS.get(self.head).search_space(trial)
        else:
            config["loop"] = loop_space(trial, cls.default_lr)
        return config

    def default(self) -> dict[str, Any]:
        """The configuration ``transferkit fit`` would use among the candidates: the frozen
        path with the head's own validation choice when ``linear-probe`` is a candidate,
        else the first strategy with its default options and loop settings."""
        name = "linear-probe" if "linear-probe" in self.strategies else self.strategies[0]
        return {"strategy": name, "strategy_params": {},
                "head": self.head if self.frozen(name) else None, "head_params": {},
                "loop": {}}

    def describe(self, config: Mapping[str, Any]) -> str:
        """A configuration in a few words, e.g. ``minilm + logistic head (C=0.31)``."""
        if self.frozen(config["strategy"]):
            return f"{self.backbone} + {config['head']} head" + _options(config["head_params"])
        return (f"{self.backbone}, {config['strategy']} fine-tuning"
                + _options({**config["strategy_params"], **config["loop"]}))

    def settings(self) -> dict[str, Any]:
        """What a resumed study must share with the run that started it."""
        return {"strategies": list(self.strategies), "backbone": self.backbone,
                "head": self.head, "epochs": self.epochs, "batch_size": self.batch_size,
                "threshold_metric": self.threshold_metric,
                **({"task": self.task} if self.task != "classification" else {})}

    def fit(self, config: Mapping[str, Any], split: FixedSplit,
            callbacks: Sequence[Callback] = ()) -> Any:
        """A :class:`~transferkit.estimator.TransferClassifier` of ``config`` fitted on
        ``split``'s training part, its epoch (and binary threshold) chosen on its
        validation part; the head is not refit on train + validation, so the validation
        score stays a held-out score. ``callbacks``: further loop callbacks (e.g.
        :class:`OptunaPruning`), unused by the frozen path."""
        from .estimator import TransferClassifier, TransferRegressor

        frozen = self.frozen(config["strategy"])
        threshold = {"classification": self.threshold_metric,  # as `transferkit fit` does
                     "multilabel": "f1" if frozen else None}.get(self.task)
        estimator = TransferRegressor if self.task == "regression" else TransferClassifier
        common = {"backbone": self.backbone, "threshold_metric": threshold, "refit": False,
                  "random_state": 0, "engine": self.engine, "batch_size": self.batch_size,
                  "task": self.task}
        if frozen:
            clf = estimator(head=config["head"], head_params=config["head_params"] or None,
                            **common)
        else:
            loop = dict(config["loop"])
            lr = loop.pop("lr", None)
            clf = estimator(
                strategy=config["strategy"], strategy_params=config["strategy_params"] or None,
                epochs=self.epochs, lr=lr, finetune_params={**loop, "verbose": False},
                **common)
        return clf.fit(split.X_train, split.y_train, split.X_val, split.y_val,
                       callbacks=callbacks)

    def objective(self, clf: Any, split: FixedSplit) -> float:
        """A trial's value: the fitted ``clf``'s validation score, :attr:`objective_metric`
        (higher is better)."""
        return float(self.scores(clf, split.X_val, split.y_val)[self.objective_metric])

    def test_scores(self, clf: Any, split: FixedSplit) -> dict[str, Any]:
        """The test metrics of ``clf`` (``{}`` when the split has no test part)."""
        if split.X_test is None:
            return {}
        return self.scores(clf, split.X_test, split.y_test)

    def scores(self, clf: Any, X: Any, y: Any) -> dict[str, Any]:
        """The task's metrics of a fitted ``clf`` on ``X`` and its targets ``y``."""
        if self.task == "classification":
            return scores(clf, X, y)
        from .experiment import task_scores

        return task_scores(clf, self.task, X, y)


@dataclass
class AdaptSpace(TuneSpace):
    """The search of deep domain adaptation (``transferkit tune SOURCE --target TARGET``):
    the method among ``methods``, its options and the adaptation weight
    (:meth:`DeepDomainAdaptation.search_space
    <transferkit.adapt.deep.estimator.DeepDomainAdaptation.search_space>`, which asks the
    method's own :meth:`~transferkit.adapt.deep.base.DomainLoss.search_space`), the
    strategy and its options, and the loop's learning rate (a decade either side of
    ``adapt``'s 1e-3) and weight decay. A trial's value is the label-free ``selector``
    score (DEV: importance-weighted held-out source risk, negated) of its selected epoch:
    no target label is read for selection."""

    methods: tuple[str, ...] = ("dann", "deep-coral", "source-only")
    selector: str = "dev"
    head: str = ""
    threshold_metric: str | None = None

    @property
    def objective_name(self) -> str:
        return "label-free DEV score"

    @property
    def objective_key(self) -> str:
        return "dev_score"

    DEFAULT_LR = 1e-3  # `transferkit adapt`'s

    def check(self) -> None:
        """Refuse, in one line, no method or strategy, or an unknown name.

        Raises
        ------
        TransferkitError
        """
        from .adapt.deep import DEEP_SELECTORS, DOMAIN_LOSSES, SOURCE_ONLY
        from .finetune.strategies import STRATEGIES

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if not self.methods or not self.strategies:
            raise TransferkitError("the search space is empty: no "
                                   + ("adaptation method" if not self.methods else "strategy")
                                   + " to try", "name at least one, e.g. --methods "
                                   "dann,deep-coral --strategies finetune")
        for name in self.methods:
            if name != SOURCE_ONLY:
                DOMAIN_LOSSES.get(name)
        for name in self.strategies:
            STRATEGIES.get(name)
        if self.selector not in DEEP_SELECTORS or self.selector == "last":
            raise TransferkitError(f"selector '{self.selector}' gives no score to tune on",
                                   "use dev (the default), iwv, snd or entropy")

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The method and its settings, the strategy and its options, the loop's.

        Returns
        -------
        dict
            ``{"method", "method_params", "trade_off", "strategy", "strategy_params",
            "loop"}``.
        """
        from .adapt.deep import DeepDomainAdaptation
        from .finetune.strategies import STRATEGIES

        method = (trial.suggest_categorical("method", list(self.methods))
                  if len(self.methods) > 1 else self.methods[0])
        config: dict[str, Any] = {"method": method, "method_params": {}, "trade_off": None,
                                  **DeepDomainAdaptation.search_space(trial, method)}
        name = (trial.suggest_categorical("strategy", list(self.strategies))
                if len(self.strategies) > 1 else self.strategies[0])
        config["strategy"] = name
        config["strategy_params"] = STRATEGIES.get(name).search_space(trial, **self.context)
        config["loop"] = loop_space(trial, self.DEFAULT_LR)
        return config

    def default(self) -> dict[str, Any]:
        """``transferkit adapt``'s settings: the first method and strategy, their default
        options, trade-off 1, lr 1e-3."""
        return {"method": self.methods[0], "method_params": {}, "trade_off": None,
                "strategy": self.strategies[0], "strategy_params": {}, "loop": {}}

    def describe(self, config: Mapping[str, Any]) -> str:
        """E.g. ``lenet, dann (hidden=256, trade_off=0.4), finetune (lr=0.002, ...)``."""
        method = {**config.get("method_params", {}),
                  **({"trade_off": config["trade_off"]} if config.get("trade_off") else {})}
        loop = {**config.get("strategy_params", {}), **config.get("loop", {})}
        return (f"{self.backbone}, {config.get('method', '?')}{_options(method)}, "
                f"{config.get('strategy', '?')}{_options(loop)}")

    def settings(self) -> dict[str, Any]:
        return {"methods": list(self.methods), "selector": self.selector,
                "strategies": list(self.strategies), "backbone": self.backbone,
                "epochs": self.epochs, "batch_size": self.batch_size}

    def fit(self, config: Mapping[str, Any], split: FixedSplit,
            callbacks: Sequence[Callback] = ()) -> Any:
        """A :class:`~transferkit.adapt.deep.DeepDomainAdaptation` of ``config`` on the
        source training part and the unlabelled target, the epoch chosen by
        :attr:`selector` (held-out source, unlabelled target)."""
        from .adapt.deep import DeepDomainAdaptation

        loop = dict(config["loop"])
        clf = DeepDomainAdaptation(
            method=config["method"], method_params=config["method_params"] or None,
            **({"trade_off": config["trade_off"]} if config.get("trade_off") else {}),
            selector=self.selector, backbone=self.backbone, strategy=config["strategy"],
            strategy_params=config["strategy_params"] or None, epochs=self.epochs,
            **({"lr": loop.pop("lr")} if "lr" in loop else {}), **loop,
            **({"batch_size": self.batch_size} if self.batch_size else {}),
            verbose=False, random_state=0)
        return clf.fit(split.X_train, split.y_train, X_target=split.X_target,
                       X_val=split.X_val, y_val=split.y_val, callbacks=callbacks)

    def objective(self, clf: Any, split: FixedSplit) -> float:
        """The selector's score of the selected epoch (no target label read)."""
        return float(clf.history_[clf.best_epoch_]["selection_score"])


def _options(values: Mapping[str, Any]) -> str:
    """Options as `` (name=value, ...)`` (floats to 3 significant digits), or ``""``."""
    text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())
    return f" ({text})" if text else ""


def scores(clf: Any, X: Any, y: np.ndarray) -> dict[str, Any]:
    """Classification metrics of a fitted ``clf`` on ``X``/``y`` (its binary threshold)."""
    from .base import label_codes
    from .metrics import classification_metrics

    return classification_metrics(label_codes(clf.classes_, np.asarray(y)),
                                  clf.predict_proba(X), clf.threshold_)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url`` (with heartbeats, so a killed worker's trial is marked
    failed and run again); SQLite waits for its lock instead of failing.

    Raises
    ------
    TransferkitError
        One line when the storage cannot be opened (no server, no driver, a missing
        directory), naming the URL and the cause.
    """
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    last: BaseException | None = None
    for attempt in range(3):  # two workers creating one SQLite file's tables at once
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs,
                                                  heartbeat_interval=30, grace_period=GRACE_S)
        except Exception as exc:  # noqa: BLE001 - any cause is the same one line
            last = exc
            if not url.startswith("sqlite") or "unable to open" in str(exc):
                break
            time.sleep(0.5 * (attempt + 1))
    cause = str(last).strip().splitlines()[0] if str(last).strip() else type(last).__name__
    raise TransferkitError(f"cannot open the study storage {url} ({cause[:200]})",
                           "check the URL, that its folder or server exists and its database "
                           "driver is installed (the default is sqlite:///<--out>/study.db)"
                           ) from last


def load_study(storage: optuna.storages.BaseStorage, name: str,
               settings: Mapping[str, Any], seed: int | None = None) -> optuna.Study:
    """Create the study ``name`` (maximise validation score, TPE, median pruning) or load it
    when it exists; a loaded study must have been started with the same ``settings``.

    Raises
    ------
    TransferkitError
        When the stored study was started with other settings.
    """
    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0))
    saved = study.user_attrs.get(SETTINGS_ATTR)
    wanted = dict(settings)
    if saved is None:
        study.set_user_attr(SETTINGS_ATTR, wanted)
    elif saved != wanted:
        changed = [f"{k}={saved.get(k)!r} (now {wanted.get(k)!r})"
                   for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
        raise TransferkitError(f"study '{name}' was started with {', '.join(changed)}",
                               "rerun with the options it was started with to resume it, or "
                               "choose another --out (or --study-name)")
    return study


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


class _Surplus(Exception):
    """A trial started by a worker after the others had already started the last one."""


class _QuietSurplus(logging.Filter):
    """Drops Optuna's "Trial N failed ..." lines (one with a traceback) for the surplus
    trials this process gave up: they are not failures, only a lost race for the last slot.

    Installed on Optuna's ``optuna.study._optimize`` logger, where those lines start
    (a logger's filters do not see records propagated from its children).
    """

    logger_name = "optuna.study._optimize"

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(f"Trial {n} ") for n in self.numbers)


@dataclass
class TuneResult:
    """A finished study with the best and the default configuration refit and tested."""

    study: optuna.Study
    space: TuneSpace
    best_config: dict[str, Any]
    best_val: float
    best_test: dict[str, Any]
    default_config: dict[str, Any] | None  # None: the default was not fitted
    default_val: float | None
    default_test: dict[str, Any] | None
    ran: int = 0  # trials this process ran

    def rows(self) -> list[tuple[str, dict[str, Any]]]:
        """The comparison: the shown test metrics (:data:`~transferkit.metrics.SHOWN`) and
        the objective of the best and the default configuration."""
        n = _finished(self.study)
        key = self.space.objective_key

        def shown(test: Mapping[str, Any], value: float) -> dict[str, Any]:
            return {**{k: test[k] for k in self.space.shown if k in test}, key: value}

        rows = [(f"tuned, best of {n} trials ({self.space.describe(self.best_config)})",
                 shown(self.best_test, self.best_val))]
        if self.default_config is not None:
            rows.append((f"default ({self.space.describe(self.default_config)})",
                         shown(self.default_test, self.default_val)))
        return rows

    def table(self) -> str:
        """:meth:`rows` as a text table."""
        from .metrics import format_table

        return format_table(self.rows(), (*self.space.shown, self.space.objective_key))


def trial_records(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial as ``{number, value, params, state, ...}`` (``value`` only for complete
    trials; ``intermediate``: the per-epoch validation scores reported)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        record = {"number": t.number, "state": t.state.name.lower(),
                  "value": t.value if t.state == optuna.trial.TrialState.COMPLETE else None,
                  "params": dict(t.params), "config": t.user_attrs.get("config"),
                  "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                  "seconds": (t.duration.total_seconds() if t.duration is not None else None)}
        if t.user_attrs.get("diverged"):
            record["diverged"] = t.user_attrs["diverged"]
        out.append(record)
    return out


def importances(study: optuna.Study) -> tuple[dict[str, float], str | None]:
    """fANOVA parameter importances over the complete trials (seeded), or ``{}`` and the
    reason when there are fewer than two or nothing varied."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"{len(complete)} complete trial(s): importances need at least 2"
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:
        return {}, f"optuna could not compute them ({exc})"
    if not found:
        return {}, "no parameter was searched in every complete trial"
    return {k: float(v) for k, v in found.items()}, None


def run_study(space: TuneSpace, split: FixedSplit,
              storage: str | optuna.storages.BaseStorage, study_name: str,
              n_trials: int, timeout: float | None = None, seed: int | None = None,
              settings: Mapping[str, Any] | None = None,
              echo: Callable[[str], None] = print, default: bool = True) -> TuneResult:
    """Run the study until it holds ``n_trials`` finished (complete or pruned) trials
    (waiting for the last ones when other workers run them), or ``timeout`` seconds have
    passed; then score the best configuration (the model of its trial when this process ran
    it, else a refit: the same seed and split) and the default one on the test split, once.

    Parameters
    ----------
    space : TuneSpace
    split : FixedSplit
        The split every trial uses.
    storage : str or optuna.storages.BaseStorage
        An Optuna storage URL (``sqlite:///path/study.db``, ``postgresql://...``; opened
        with :func:`open_storage`) or an opened storage.
    study_name : str
        The study's name in ``storage``: the same name resumes (and shares) the study.
    n_trials : int
        Finished trials the study should hold; a resumed study runs only the missing ones.
    timeout : float or None
        No new trial starts after this many seconds (this process runs at least one, as
        Optuna's ``timeout`` does).
    seed : int or None
        Seed of the TPE sampler (give each worker of a shared study its own).
    settings : dict or None
        Further settings a resumed study must share (the data, the split), beside
        :meth:`TuneSpace.settings`.
    echo : callable
        Where the per-trial lines go.
    default : bool
        Also fit the default configuration (:meth:`TuneSpace.default`) and score it, for
        the comparison; False leaves it out (e.g. when it is a long fine-tuning measured
        elsewhere).

    Returns
    -------
    TuneResult

    Raises
    ------
    TransferkitError
        For an empty search space, a storage that cannot be opened, a study started with
        other settings, or when no trial completed.
    """
    space.check()
    if n_trials < 1:
        raise TransferkitError(f"--n-trials must be >= 1, got {n_trials}", "use e.g. "
                               "--n-trials 12")
    if isinstance(storage, str):
        storage = open_storage(storage)
    study = load_study(storage, study_name,
                       {**space.settings(), **dict(settings or {})}, seed)
    from .finetune.loop import TrainingDiverged

    quiet = _QuietSurplus()
    started: list[int] = []  # the trials this process ran (not the surplus ones)
    kept: dict[str, Any] = {}  # this process's best trial so far: its number, score, model

    def objective(trial: optuna.Trial) -> float:
        ahead = [t for t in study.get_trials(deepcopy=False, states=(
            *FINISHED, optuna.trial.TrialState.RUNNING)) if t.number < trial.number]
        if len(ahead) >= n_trials:  # another worker started the last trial first
            trial.set_user_attr("surplus", True)
            quiet.numbers.add(trial.number)
            raise _Surplus
        started.append(trial.number)
        config = space.suggest(trial)
        trial.set_user_attr("config", config)
        try:
            clf = space.fit(config, split, callbacks=[OptunaPruning(trial)])
        except TrainingDiverged as exc:  # a hopeless configuration: stopped, like pruning
            trial.set_user_attr("diverged", str(exc))
            raise optuna.TrialPruned(str(exc)) from exc
        value = space.objective(clf, split)
        if not kept or value > kept["value"]:  # no refit at the end when it stays the best
            kept.update(number=trial.number, value=value, model=clf)
        return value

    def progress(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        if t.user_attrs.get("surplus"):
            return
        what = space.describe(t.user_attrs.get("config") or {"strategy": "?",
                                                               "strategy_params": {}, "loop": {}})
        if t.state == optuna.trial.TrialState.COMPLETE:
            outcome = f"{space.objective_name} {t.value:.4f}"
        elif t.user_attrs.get("diverged"):
            outcome = "diverged (counted as pruned)"
        elif t.state == optuna.trial.TrialState.PRUNED:
            last = max(t.intermediate_values) if t.intermediate_values else None
            outcome = ("pruned" if last is None else
                       f"pruned after epoch {last + 1} ({t.intermediate_values[last]:.4f})")
        else:
            outcome = t.state.name.lower()
        try:
            best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:
            best = "no complete trial yet"
        seconds = t.duration.total_seconds() if t.duration is not None else math.nan
        echo(f"trial {t.number}: {outcome}, {seconds:.1f} s -- {what}; {best}")

    start = time.monotonic()
    done = _finished(study)
    if done:
        echo(f"study '{study_name}' holds {done} finished trial(s); running the "
             f"{max(0, n_trials - done)} missing")
    optuna_log = logging.getLogger(_QuietSurplus.logger_name)
    optuna_log.addFilter(quiet)
    try:
        while True:
            _fail_stale(study)  # a killed worker's trial (no heartbeat): failed, run again
            done = _finished(study)
            if done >= n_trials:
                break
            if timeout is not None and started and time.monotonic() - start >= timeout:
                echo(f"--timeout {timeout:g} s reached: no new trial started")
                break
            running = len(study.get_trials(deepcopy=False,
                                           states=(optuna.trial.TrialState.RUNNING,)))
            if done + running >= n_trials:  # the last trials run elsewhere: wait for them
                time.sleep(1.0)
                continue
            study.optimize(objective, n_trials=1, catch=(_Surplus,), callbacks=[progress])
    finally:
        optuna_log.removeFilter(quiet)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise TransferkitError(f"none of the study's {len(study.trials)} trials completed "
                               "(all pruned, diverged or failed)", "run more trials "
                               "(--n-trials), or narrow the search (--strategies)")
    best = study.best_trial
    best_config = best.user_attrs["config"]
    if kept.get("number") == best.number:  # trained here: the very model that was scored
        clf = kept.pop("model")
    else:  # another worker's trial: the same seed and split give the same model
        clf = space.fit(best_config, split)
    kept.clear()
    best_val = space.objective(clf, split)
    best_test = space.test_scores(clf, split)
    default_config = default_val = default_test = None
    if default:
        default_config = space.default()
        clf = space.fit(default_config, split)
        default_val = space.objective(clf, split)
        default_test = space.test_scores(clf, split)
    return TuneResult(study, space, best_config, best_val, best_test, default_config,
                      default_val, default_test, len(started))


def _fail_stale(study: optuna.Study) -> None:
    """Mark the running trials whose worker stopped beating as failed (Optuna's
    ``fail_stale_trials``, experimental: its warning is not the user's concern)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def tune_document(result: TuneResult, protocol: str, **extra: Any) -> dict[str, Any]:
    """The ``metrics.json`` of a tune run (:func:`transferkit.results.results_document`,
    kind ``tune``): the comparison rows, ``trials``, ``best``, ``default``, ``importances``
    (``importances_missing`` says why when empty) and the study's name."""
    from .results import results_document

    found, missing = importances(result.study)
    best = result.study.best_trial
    return results_document(
        "tune", result.rows(), protocol,
        trials=trial_records(result.study),
        best={"number": best.number, "value": best.value, "params": dict(best.params),
              "config": result.best_config, "description":
              result.space.describe(result.best_config), result.space.objective_key:
              result.best_val, "test": result.best_test},
        default=None if result.default_config is None else {
            "config": result.default_config, "description":
            result.space.describe(result.default_config),
            result.space.objective_key: result.default_val, "test": result.default_test},
        objective=result.space.objective_name,
        importances=found, importance_method="fanova (optuna, seed 0)",
        **({"importances_missing": missing} if missing else {}),
        study=result.study.study_name, space=result.space.settings(), **extra)
