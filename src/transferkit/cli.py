"""``transferkit`` command line: demo, fit, adapt, predict, evaluate, backbones, lr-find,
pretrain, rank, report, tune, audit.

Errors the user can fix print one line (``error: problem -- fix``) and exit 2;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data.dataset import align_to, item_digests, take
from .errors import TransferkitError
from .progress import progress_bars


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label-column", default="label", help="table label column [label]")
    p.add_argument("--text-column", help="table column holding text")
    p.add_argument("--image-column", help="table column holding image paths")
    _drop_option(p)


def _drop_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drop-columns", type=_column_list, default=None,
                   help="comma-separated table columns to ignore, e.g. an identifier: "
                   "--drop-columns ID")


def _column_list(text: str) -> list[str]:
    """``--drop-columns a,b`` as ``["a", "b"]``."""
    return [c.strip() for c in text.split(",") if c.strip()]


def _task_options(p: argparse.ArgumentParser) -> None:
    """``--task`` and the options that say where a multi-label task's labels are."""
    p.add_argument("--task", default=None,
                   help="classification | multilabel (a label column of several labels per "
                   "row, see --label-sep) | regression (a numeric label column) "
                   "[classification]")
    p.add_argument("--label-sep", default="|",
                   help="multilabel: the separator between a row's labels [|]")
    p.add_argument("--label-columns",
                   help="multilabel, tables: one 0/1 column per label, e.g. a,b,c (instead "
                   "of one --label-column of several labels per row)")


def _finetune_options(p: argparse.ArgumentParser, default: str = "linear-probe") -> None:
    p.add_argument("--strategy", default=None,
                   help="linear-probe (cached features) | finetune | partial | bitfit | lora | "
                   f"l2sp | gradual | auto [{default}; partial with --freeze]")
    p.add_argument("--freeze", type=int, help="partial: freeze the first K layer groups")
    p.set_defaults(default_strategy=default)


def _strategy(args: argparse.Namespace) -> tuple[str, dict]:
    """(strategy name, options) from --strategy/--freeze; validated before data is read."""
    from .finetune.strategies import make_strategy

    name = args.strategy or ("partial" if args.freeze is not None else args.default_strategy)
    params = {"freeze": args.freeze} if args.freeze is not None else {}
    if params and name != "partial":
        raise TransferkitError(f"--freeze applies to strategy 'partial', not '{name}'",
                               "drop --freeze or use --strategy partial")
    make_strategy(name, **params)
    return name, params


def _default_backbone(args: argparse.Namespace, data, path: str | None = None,
                      image: str | None = None) -> str:
    """``--backbone``, else the default for the data's modality
    (:data:`transferkit.backbones.DEFAULT_BACKBONES`; ``image`` replaces the one for
    images); tabular features have none: one line naming ``path`` (default ``--data``)."""
    from .backbones import DEFAULT_BACKBONES

    defaults = {**DEFAULT_BACKBONES, **({"image": image} if image else {})}
    backbone = args.backbone or defaults.get(data.modality)
    if data.modality not in defaults:  # even a named backbone: none takes features
        table = args.command == "fit" and str(path or args.data).lower().endswith(
            (".csv", ".tsv", ".parquet", ".pq"))
        raise TransferkitError(
            f"{path or args.data} holds {data.modality} features; no pretrained backbone reads "
            "those", "pass image or text data, "
            + ("train an MLP over the table's columns with --backbone tabular_mlp, "
               if table else "")
            + "or use a shallow method (`transferkit adapt --method coral|tca|...`) or a "
            "scikit-learn model on the features")
    return backbone


def _json_params(text: str | None, method: str) -> dict:
    """``--params`` as a dict (one line on anything but a JSON object)."""
    try:
        params = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        params, why = None, str(exc)
    else:
        why = f"got {type(params).__name__}"
    if not isinstance(params, dict):
        raise TransferkitError(f"bad --params for {method}: not a JSON object ({why})",
                               "pass a JSON object, e.g. --params '{\"n_components\": 20}'")
    return params


def _load(path: str, args: argparse.Namespace, labelled: bool = True, mixed: bool = False):
    """``path`` as a Dataset; ``mixed``: a table keeps every column, text and empty cells
    included (for the tabular backbone's column schema)."""
    from .data import load_dataset

    columns = _label_columns(args, path) if labelled else None
    data = load_dataset(
        path,
        labelled=labelled,
        label_column=args.label_column,
        text_column=args.text_column,
        image_column=args.image_column,
        **({"label_columns": columns} if columns else {}),
        drop_columns=getattr(args, "drop_columns", None),
        **({"mixed": True} if mixed else {}),
    )
    if labelled and data.y is None:
        raise TransferkitError(f"{path} has no labels", "save them beside the inputs (y=...)")
    return data


def _label_columns(args: argparse.Namespace, path: str) -> list[str] | None:
    """``--label-columns`` as a list of names (None when not given); one line when it is
    combined with ``--label-column``, with a task other than multilabel, or used on data
    that is not a table."""
    spec = getattr(args, "label_columns", None)
    if not spec:
        return None
    columns = [c.strip() for c in spec.split(",") if c.strip()]
    if getattr(args, "task", "multilabel") != "multilabel":
        raise TransferkitError(f"--label-columns gives one 0/1 column per label of a multi-label "
                               f"task, not of a {args.task} task", "add --task multilabel, or "
                               "use --label-column for one label column")
    if args.label_column != "label":
        raise TransferkitError("--label-columns and --label-column both name the labels",
                               "give one of them: one 0/1 column per label, or one column of "
                               "label sets")
    if len(columns) < 2:
        raise TransferkitError(f"--label-columns {spec!r} names {len(columns)} column(s)",
                               "name at least two 0/1 columns, e.g. --label-columns a,b,c")
    if Path(path).suffix.lower() not in (".csv", ".tsv", ".parquet", ".pq"):
        raise TransferkitError(f"--label-columns reads columns of a table; {Path(path).name} is "
                               "not one", "pass a .csv/.tsv/.parquet table")
    return columns


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine``: the feature-extraction engines of :data:`transferkit.features.ENGINES`."""
    from .features import ENGINES

    parser.add_argument("--engine", default="auto",
                        help=f"{' | '.join(ENGINES)} [auto]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transferkit",
        description="Transfer learning that tells you, with numbers, whether reuse helped.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    # the same two flags also after the command (`transferkit fit ... --quiet`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    demo = command("demo", help="offline demo: transfer vs. from scratch on digits")
    demo.add_argument("--seeds", type=int, default=3)

    fit = command("fit", help="train transfer (frozen backbone + new head) and baseline")
    fit.add_argument("data", help="folder of class sub-folders, .csv/.tsv/.parquet, .npz, .mat")
    fit.add_argument("--backbone", default=None, help="see `transferkit backbones` "
                     "[efficientnet_lite0 for images, minilm for text]; tables: tabular_mlp "
                     "(an MLP over the table's columns, beside gradient boosting), or "
                     "file:RUN of a tabular run to transfer it")
    fit.add_argument("--out", required=True, help="run directory to write")
    fit.add_argument("--head", default=None,
                     help="frozen path: logistic | mlp (classification), logistic = ovr-logistic "
                     "(multilabel: one logistic model per label), ridge (regression) "
                     "[logistic; ridge for regression]")
    fit.add_argument("--test", help="a separate labelled test set (else a stratified split)")
    fit.add_argument("--test-size", type=float, default=0.2)
    fit.add_argument("--val-size", type=float, default=0.2)
    fit.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 [0]")
    fit.add_argument("--labels-per-class", type=int, help="use at most N labels per class")
    fit.add_argument("--no-baseline", action="store_true", help="skip the from-scratch run")
    _task_options(fit)
    fit.add_argument("--tasks", default=None,
                     help="multi-task: NAME:KIND,... (kinds: classification | multilabel | "
                     "regression), one label column per task named as the task (.npz: arrays "
                     "y_<task>), e.g. digit:classification,size:regression")
    fit.add_argument("--loss-weighting", default="equal",
                     help="multi-task: equal | uncertainty | gradnorm [equal]")
    fit.add_argument("--gradnorm-alpha", type=float, default=1.5,
                     help="multi-task, gradnorm: the asymmetry alpha [1.5]")
    fit.add_argument("--threshold-metric", default="f1",
                     help="binary: what the threshold maximises on validation: f1 | accuracy | "
                     "balanced_accuracy | youden | cost:K (a missed positive costs K false "
                     "alarms) [f1]")
    fit.add_argument("--batch-size", type=int)
    _add_engine_option(fit)
    fit.add_argument("--no-cache", action="store_true", help="don't read/write the feature cache")
    fit.add_argument("--drop-flagged", metavar="AUDIT_DIR",
                     help="retrain without the examples `transferkit audit DATA --out "
                     "AUDIT_DIR` flagged (its flagged.csv): they leave the training and "
                     "validation parts of each seed's split, the test part stays as it is; "
                     "the plain fit on all labels runs too, on the same splits and seeds, "
                     "and is shown as a row beside it (classification, frozen path "
                     "only)")
    _finetune_options(fit)
    fit.add_argument("--epochs", type=int, default=None,
                     help="fine-tuning epochs [3; 30 for the tabular backbone]")
    fit.add_argument("--lr", type=float, help="backbone learning rate [strategy default]")
    fit.add_argument("--resume", action="store_true",
                     help="continue an interrupted fine-tuning from <out>.ckpt")
    _data_options(fit)

    lrf = command("lr-find", help="learning-rate range test for a fine-tuning strategy")
    lrf.add_argument("data")
    lrf.add_argument("--backbone", default=None)
    _finetune_options(lrf, default="finetune")
    lrf.add_argument("--batch-size", type=int, default=16)
    lrf.add_argument("--steps", type=int, default=60)
    lrf.add_argument("--start", type=float, default=1e-7)
    lrf.add_argument("--end", type=float, default=1.0)
    _data_options(lrf)

    ad = command("adapt", help="domain adaptation (deep or shallow): labelled source, "
                        "unlabelled target, nothing chosen on target labels")
    ad.add_argument("--source", required=True, help="labelled source data (any format fit reads)")
    ad.add_argument("--target", required=True, help="target data; its labels, if any, are ignored")
    ad.add_argument("--target-test", help="labelled target test data, used only for the score")
    ad.add_argument("--target-labelled",
                    help="a few labelled target samples (kept apart from --target-test): the "
                    "training data of tradaboost | regular-transfer | multitask")
    ad.add_argument("--method", default="dann",
                    help="deep: dan | deep-coral | dann | cdan | mcc | wdgrl | source-only; "
                    "shallow (on features; frozen backbone features for images/text): coral | "
                    "tca | sa | jda | gfk | meda | easytl | kmm | kliep | discriminative | "
                    "selection; with --target-labelled: tradaboost | regular-transfer | "
                    "multitask [dann]")
    ad.add_argument("--zscore", action="store_true",
                    help="shallow methods: standardise each domain's features separately (the "
                    "preprocessing of the published SURF/Amazon numbers)")
    ad.add_argument("--params", help="the method's parameters as JSON, e.g. "
                    "'{\"n_components\": 20}' (shallow) or '{\"hidden\": 512}' (deep: the "
                    "loss module's options)")
    ad.add_argument("--backbone", default=None,
                    help="see `transferkit backbones` [images: lenet for deep methods, frozen "
                    "efficientnet_lite0 for shallow ones; text: minilm]")
    ad.add_argument("--trade-off", type=float, default=1.0,
                    help="weight of the adaptation loss [1.0]")
    ad.add_argument("--selector", default=None,
                    help="label-free epoch selection: dev | iwv | snd | entropy | "
                    "source-accuracy | last (no selection: the final epoch) [dev]")
    ad.add_argument("--oracle", action="store_true",
                    help="also report the epoch picked on --target-test labels (labelled as "
                    "an oracle; never used for the model)")
    _finetune_options(ad, default="finetune")
    ad.add_argument("--epochs", type=int, default=10)
    ad.add_argument("--lr", type=float, default=1e-3, help="backbone learning rate [1e-3]")
    ad.add_argument("--batch-size", type=int, default=32)
    ad.add_argument("--seed", type=int, default=0)
    ad.add_argument("--no-baseline", action="store_true", help="skip the source-only run")
    ad.add_argument("--out", help="run directory to write the adapted model to")
    _data_options(ad)

    pre = command("pretrain", help="pretrain your own source model on a source dataset: "
                  "supervised on its labels, or self-supervised on inputs alone")
    pre.add_argument("data", help="source data: labelled (any format fit reads) or, with "
                     "--self-supervised, unlabelled (an image folder at any depth, arrays, a "
                     "table)")
    pre.add_argument("--arch", default=None,
                     help="lenet (small grey images) | resnet_small (32x32 RGB) | tabular_mlp "
                     "(tables) | any backbone of `transferkit backbones`, whose weights then "
                     "initialise it | file:RUN [lenet for images, minilm for texts, "
                     "tabular_mlp for tables]")
    pre.add_argument("--out", required=True, help="run directory to write (then transfer "
                     "it with --backbone file:OUT)")
    pre.add_argument("--self-supervised", default=None, metavar="METHOD",
                     help="simclr | vicreg: learn from the inputs alone (labels unused); the "
                     "projection head is dropped when saved")
    pre.add_argument("--params", help="self-supervised: the method's options as JSON, e.g. "
                     "'{\"temperature\": 0.2}'")
    pre.add_argument("--monitor", help="self-supervised: a small labelled set whose k-NN "
                     "accuracy on the features is shown after each epoch (never used to "
                     "select)")
    pre.add_argument("--epochs", type=int, default=10, help="[10]")
    pre.add_argument("--lr", type=float, default=1e-3, help="learning rate of every weight "
                     "[1e-3]")
    pre.add_argument("--batch-size", type=int, help="[64; 256 self-supervised]")
    pre.add_argument("--val-size", type=float, default=0.1,
                     help="supervised: share of the source held out to choose the epoch [0.1]")
    pre.add_argument("--seed", type=int, default=0)
    _data_options(pre)

    rk = command("rank", help="rank candidate models (or source datasets) for a target "
                 "before training: LogME, H-score, NCE, LEEP; MMD, proxy A-distance")
    rk.add_argument("data", help="the labelled target data")
    rk.add_argument("--candidates", type=_column_list,
                    help="comma-separated backbones to score, e.g. efficientnet_lite0,"
                    "file:runs/mnist_src,hf:<folder>")
    rk.add_argument("--sources", type=_column_list,
                    help="comma-separated labelled source datasets to order by their distance "
                    "to the target (on --backbone features)")
    rk.add_argument("--backbone", default=None,
                    help="--sources: the fixed backbone whose features are compared [images: "
                    "efficientnet_lite0; text: minilm; feature arrays: used as they are]")
    rk.add_argument("--score", default="logme", help="the score that orders candidates [logme]")
    rk.add_argument("--fit-top", type=int, default=None, metavar="N",
                    help="fine-tune the N best candidates with a fixed budget and print the "
                    "predicted vs the actual order")
    rk.add_argument("--epochs", type=int, default=3, help="--fit-top budget: epochs [3]")
    rk.add_argument("--lr", type=float, help="--fit-top budget: learning rate [strategy's]")
    rk.add_argument("--seeds", default="0", help="--fit-top: comma-separated seeds [0]")
    rk.add_argument("--test-size", type=float, default=0.2,
                    help="held out for --fit-top, never scored [0.2]")
    rk.add_argument("--labels-per-class", type=int, help="score at most N labels per class")
    rk.add_argument("--seed", type=int, default=0, help="seed of the split [0]")
    rk.add_argument("--out", help="a folder to write the ranking to (ranking.json)")
    _add_engine_option(rk)
    _data_options(rk)

    au = command("audit", help="flag likely mislabelled training examples: confident "
                 "learning (cleanlab) on out-of-fold probabilities of a logistic head on "
                 "frozen features")
    au.add_argument("data", help="labelled data (any format fit reads)")
    au.add_argument("--backbone", default=None,
                    help="see `transferkit backbones` [efficientnet_lite0 for images, minilm "
                    "for text; feature arrays are audited as they are]")
    au.add_argument("--folds", type=int, default=5,
                    help="cross-validation folds: each example's probabilities come from a "
                    "head trained on the other folds [5]")
    au.add_argument("--seed", type=int, default=0, help="seed of the folds [0]")
    au.add_argument("--out", required=True,
                    help="folder to write flagged.csv and audit.json to (retrain without the "
                    "flagged examples with `transferkit fit DATA --drop-flagged OUT`)")
    au.add_argument("--show", type=int, default=10, help="flagged examples printed [10]")
    au.add_argument("--batch-size", type=int)
    _add_engine_option(au)
    au.add_argument("--no-cache", action="store_true",
                    help="don't read/write the feature cache")
    _data_options(au)

    pred = command("predict", help="write predictions (label + probabilities) to CSV")
    pred.add_argument("run_dir")
    pred.add_argument("inputs", help="image file/folder, text file (one per line), a table, "
                      "or arrays (.npz/.mat)")
    pred.add_argument("--output", "-o", help="CSV to write [stdout]")
    pred.add_argument("--text-column")
    pred.add_argument("--image-column")
    _drop_option(pred)

    ev = command("evaluate", help="metrics of a run dir on labelled data")
    ev.add_argument("run_dir")
    ev.add_argument("data")
    ev.add_argument("--label-sep", default="|",
                    help="multilabel runs: the separator between a row's labels [|]")
    ev.add_argument("--label-columns",
                    help="multilabel runs on tables: one 0/1 column per label, e.g. a,b,c")
    ev.add_argument("--json", action="store_true",
                    help="print the metrics as one JSON object {metric: value} (for scripts)")
    _data_options(ev)

    tu = command("tune", help="Optuna search over the strategy, learning rate, freeze depth, "
                 "weight decay and the head's settings; chosen on validation only, the best "
                 "and the default configuration scored on test once")
    tu.add_argument("data", help="labelled data (any format fit reads)")
    tu.add_argument("--n-trials", type=int, required=True,
                    help="finished trials the study should hold (rerunning with the same "
                    "--out resumes it and runs only the missing ones)")
    tu.add_argument("--timeout", type=float, help="start no new trial after S seconds")
    tu.add_argument("--storage", help="Optuna storage URL shared by several workers, e.g. "
                    "postgresql://user@host/db [sqlite:///OUT/study.db]")
    tu.add_argument("--study-name", help="the study's name in the storage [OUT's folder name]")
    tu.add_argument("--out", required=True, help="run directory (metrics.json, the study)")
    tu.add_argument("--strategies", type=_column_list, default=None,
                    help="comma-separated candidate strategies [linear-probe,partial,finetune]")
    tu.add_argument("--backbone", default=None,
                    help="[efficientnet_lite0 for images, minilm for text]")
    tu.add_argument("--head", default=None,
                    help="head of the linear-probe trials (its settings are searched): "
                    "logistic | mlp; ridge for regression [the task's: logistic, "
                    "ovr-logistic, ridge]")
    _task_options(tu)
    tu.add_argument("--epochs", type=int, default=3, help="epochs of a fine-tuning trial [3]")
    tu.add_argument("--batch-size", type=int)
    _add_engine_option(tu)
    tu.add_argument("--test-size", type=float, default=0.2)
    tu.add_argument("--val-size", type=float, default=0.2)
    tu.add_argument("--threshold-metric", default="f1",
                    help="binary: what the threshold maximises on validation [f1]")
    tu.add_argument("--seed", type=int, default=None,
                    help="seed of the sampler (the split is always seed 0) [random]")
    tu.add_argument("--target", help="domain adaptation: unlabelled target data (DATA is the "
                    "labelled source); trials are then chosen by the label-free DEV score")
    tu.add_argument("--target-test", help="with --target: labelled target test data, scored "
                    "once for the best and the default configuration")
    tu.add_argument("--methods", type=_column_list, default=None,
                    help="with --target: candidate deep methods, e.g. dann,cdan,mcc,"
                    "source-only [dann,deep-coral,source-only]")
    _data_options(tu)

    command("backbones", help="list backbones and whether they work here")

    rp = command("report", help="one self-contained HTML page of one or several run dirs "
                 "(results, warnings, curves, errors, embedding, Grad-CAM, rankings, trials)")
    rp.add_argument("runs", nargs="+", metavar="RUN_DIR",
                    help="the --out folders of fit, adapt, tune, rank or audit")
    rp.add_argument("--output", "-o", default="report.html",
                    help="the HTML file to write [report.html]")
    rp.add_argument("--seed", type=int, default=0,
                    help="seeds the embedding and its subsample [0]")
    return parser


def cmd_backbones(args: argparse.Namespace) -> int:
    from .backbones import list_backbones

    print(f"{'name':<22}{'modality':<12}{'status':<34}description")
    for info in list_backbones():
        name = info.label
        status = "available offline" if info.available() else (
            "needs: pip install " + " ".join(info.requires))
        print(f"{name:<22}{info.modality:<12}{status:<34}{info.description}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    import shutil

    from ._io import check_out_dir
    from .base import check_fit_args
    from .experiment import compare
    from .runformat import CONFIG

    tabular = _tabular_defaults(args)
    strategy, strategy_params = _strategy(args)
    if args.tasks is None:
        args.task = args.task or "classification"
    check_out_dir(args.out, CONFIG)  # before the work, so none is lost
    out = Path(args.out)
    ckpt = out.with_name(out.name + ".ckpt")
    if ((strategy != "linear-probe" or args.tasks) and ckpt.exists()
            and not _is_checkpoint_dir(ckpt)):
        raise TransferkitError(f"{ckpt} exists and does not hold transferkit checkpoints",
                               "move it away or choose another --out (nothing was touched)")
    seeds = _seed_list(args.seeds)
    if not (0 < args.test_size < 1 or (args.test and args.test_size == 0)):
        raise TransferkitError(f"--test-size must be in (0, 1), got {args.test_size}",
                               "use e.g. --test-size 0.2 (or give --test)")
    if not 0 <= args.val_size < 1 or args.test_size + args.val_size >= 1:
        raise TransferkitError(f"--val-size must be in [0, 1) with --test-size + --val-size "
                               f"< 1, got {args.val_size}", "use e.g. --val-size 0.2")
    check_fit_args(None, None, args.threshold_metric or None)
    if args.drop_flagged and (args.tasks is not None or tabular
                              or args.task != "classification"):
        raise TransferkitError("--drop-flagged drops the examples an audit flagged; audits "
                               "check single class labels", "use it with --task "
                               "classification on image, text or feature data (no --tasks, "
                               "no tabular backbone)")
    if args.tasks is not None:  # multi-task: its own experiment
        return _fit_multitask(args, seeds, strategy, strategy_params, out, ckpt)
    _check_task(args)
    if tabular:
        return _fit_tabular(args, strategy, strategy_params, seeds, out, ckpt)
    data = _load(args.data, args)
    if np.ndim(data.y) == 2:  # --label-columns: each label needs a positive to be learnt
        empty = [c for c, n in zip(data.meta["label_columns"], data.y.sum(axis=0), strict=True)
                 if n == 0]
        if empty:
            raise TransferkitError(f"label column(s) {', '.join(map(repr, empty))} of "
                                   f"{args.data} hold no 1", "drop them from --label-columns")
    labels = args.task == "classification"  # other targets are not classes to align
    test = align_to(data, _load(args.test, args), labels=labels) if args.test else None
    backbone = _default_backbone(args, data)
    flagged = None
    if args.drop_flagged:
        from .audit import read_flagged

        flagged = read_flagged(args.drop_flagged, data)
    tuning = {}
    if strategy != "linear-probe":  # through the loop: checkpoints beside out
        tuning = {"strategy": strategy, "strategy_params": strategy_params,
                  "epochs": args.epochs, "lr": args.lr,
                  "finetune_params": {"checkpoint_dir": str(ckpt), "resume": args.resume,
                                      "verbose": not args.quiet,
                                      **({"batch_size": args.batch_size}
                                         if args.batch_size and not labels else {})}}
    task = {} if labels else {"task": args.task, "label_sep": args.label_sep}
    common = dict(
        backbone=backbone,
        head=args.head if args.head or not labels else "logistic",
        seeds=seeds,
        test_size=args.test_size,
        val_size=args.val_size,
        labels_per_class=args.labels_per_class,
        test_data=test,
        threshold_metric=args.threshold_metric or None,
        batch_size=args.batch_size,
        engine=args.engine,
        cache=not args.no_cache and not tuning,
        **tuning,
        **task,
    )
    comparison = compare(data, baseline=not args.no_baseline, exclude=flagged, **common)
    if flagged is not None:  # the plain fit on the same splits and seeds, one more row
        if tuning:  # its checkpoints apart from those of the fit without the flagged
            common["finetune_params"] = {**tuning["finetune_params"], "checkpoint_dir":
                                         str(ckpt / ALL_LABELS_CHECKPOINTS)}
        plain = compare(data, baseline=False, **common)
        plain_row = _beside_plain_fit(comparison, plain, len(flagged), args.drop_flagged)
    what = (f"{len(np.unique(data.y))} classes" if labels else
            f"{args.task}, {len(comparison.model.classes_)} labels" if args.task == "multilabel"
            else "regression")
    print(f"data: {args.data} ({len(data)} samples, {data.modality}, {what})")
    print(f"protocol: {comparison.protocol}")
    print(comparison.table() if flagged is None else _drop_effect(comparison, plain_row))
    _warn_and_save(comparison, out)
    if tuning and _is_checkpoint_dir(ckpt):  # the run is saved: its checkpoints are done
        shutil.rmtree(ckpt, ignore_errors=True)
    print(f"saved run to {out}")
    return 0


#: ``fit --drop-flagged`` with a fine-tuning strategy: the plain fit's checkpoints, inside
#: the run's checkpoint folder
ALL_LABELS_CHECKPOINTS = "all-labels"


def _beside_plain_fit(comparison: Any, plain: Any, n_flagged: int,
                      audit: str) -> tuple[str, dict[str, Any]]:
    """``fit --drop-flagged``: ``comparison`` was trained without the flagged examples; its
    rows are renamed to say so, and the plain fit's transfer row (all labels, the same
    splits and seeds) is kept in ``extra["drop_flagged"]`` (``all_labels``, ``per_seed``),
    beside the rows rather than among them, so that the second row stays the from-scratch
    baseline that the negative-transfer check compares with. Returns that row."""
    from .results import results_document

    comparison.rows = [(f"{name}, without the flagged", metrics)
                       for name, metrics in comparison.rows]
    row = (f"{plain.rows[0][0]}, all labels", plain.rows[0][1])
    comparison.protocol += (
        f"; the excluded examples: the {n_flagged} that `transferkit audit` flagged "
        f"({audit}; rows 'without the flagged'); the row 'all labels' is the plain fit on "
        "the same splits and seeds")
    comparison.extra["drop_flagged"] = {
        "audit": str(audit), "n_flagged": n_flagged,
        "all_labels": results_document("fit", [row], "")["rows"][0],
        "per_seed": plain.per_seed["transfer"]}
    return row


def _drop_effect(comparison: Any, row: tuple[str, dict[str, Any]]) -> str:
    """The table with the plain fit's ``row`` last, then one line: the test accuracy without
    the flagged examples against all labels."""
    from .metrics import format_table

    without = comparison.per_seed["transfer"]
    plain = comparison.extra["drop_flagged"]["per_seed"]
    a = float(np.mean([m["accuracy"] for m in without]))
    b = float(np.mean([m["accuracy"] for m in plain]))
    kept = comparison.extra.get("excluded_per_seed", [])
    return (format_table([*comparison.rows, row], comparison.columns) + "\n"
            f"dropping the flagged examples ({', '.join(map(str, kept))} of them in train + "
            f"validation, per seed): transfer test accuracy {a:.4f} vs {b:.4f} with all "
            f"labels ({100 * (a - b):+.2f} points, same test split)")


def cmd_audit(args: argparse.Namespace) -> int:
    """``transferkit audit DATA --out DIR``: the likely mislabelled examples of DATA
    (:func:`transferkit.audit.audit_labels`) to DIR/flagged.csv and DIR/audit.json."""
    from ._io import atomic_dir, check_out_dir, write_json, write_text
    from .audit import (
        AUDIT,
        FLAGGED,
        audit_document,
        audit_labels,
        flagged_csv,
        input_names,
    )
    from .errors import check_int

    check_int("--folds", args.folds, 2, 5)
    check_int("--show", args.show, 0, 10)
    check_out_dir(args.out, AUDIT)  # before the work, so none is lost
    data = _load(args.data, args)
    backbone = None if data.modality == "tabular" and not args.backbone else \
        _default_backbone(args, data)
    result = audit_labels(data, backbone, folds=args.folds, seed=args.seed,
                          batch_size=args.batch_size, engine=args.engine,
                          cache=not args.no_cache, progress=False if args.quiet else None)
    inputs = input_names(data)
    with atomic_dir(args.out, only_replace_if=AUDIT) as stage:
        write_text(stage / FLAGGED, flagged_csv(result, inputs))
        write_json(stage / AUDIT, audit_document(result, data, args.data))
    share = result.n_flagged / max(result.n_samples, 1)
    print(f"audit: {args.data} ({result.n_samples} samples, {data.modality}, "
          f"{len(result.classes)} classes): {result.n_flagged} flagged as likely "
          f"mislabelled ({share:.1%})")
    print(f"protocol: {result.protocol}")
    if result.n_flagged and args.show:
        shown = min(args.show, result.n_flagged)
        print(f"the {shown} least likely labels (score: the out-of-fold probability of the "
              "given label):")
        print(result.table(inputs, limit=shown))
    print(f"wrote {args.out}/{FLAGGED} and {args.out}/{AUDIT}; retrain without the flagged "
          f"examples: transferkit fit {args.data} --drop-flagged {args.out} --out RUN")
    return 0


def _warn_and_save(comparison: Any, out: Path) -> None:
    """Print the negative-transfer warning (when transfer loses beyond the seed spread) and
    save the comparison's model with its metrics and, where it has one, the evaluation record
    that ``transferkit report`` draws (confusion, embedding, Grad-CAM examples)."""
    from .evaluation import EVALUATION
    from .results import negative_transfer

    metrics = comparison.to_json()
    warning = negative_transfer(metrics)
    if warning:
        print(f"warning: {warning}")
    evaluation = comparison.evaluation()
    comparison.model.save(out, metrics=metrics,
                          **({EVALUATION: evaluation} if evaluation is not None else {}))


def _tabular_defaults(args: argparse.Namespace) -> bool:
    """Whether ``fit --backbone`` is the tabular MLP (``tabular_mlp`` or ``file:`` of a tabular
    run); sets the defaults that depend on it: strategy ``finetune`` (a random-init MLP has
    nothing to probe) and the number of epochs."""
    from .tabular_compare import TABULAR_EPOCHS, is_tabular_backbone

    tabular = is_tabular_backbone(args.backbone)
    if tabular:
        args.default_strategy = "finetune"
    if args.epochs is None:
        args.epochs = TABULAR_EPOCHS if tabular else 3
    return tabular


def _fit_tabular(args: argparse.Namespace, strategy: str, strategy_params: dict,
                 seeds: tuple[int, ...], out: Path, ckpt: Path) -> int:
    """``transferkit fit TABLE --backbone tabular_mlp|file:SRC_RUN``: the MLP over the
    table's column schema (new, or transferred) beside the from-scratch MLP and gradient
    boosting (:func:`transferkit.tabular_compare.compare_tabular`)."""
    import dataclasses
    import shutil

    from .adapt import AdaptWarning
    from .data.dataset import labels_as
    from .tabular_compare import TABULAR_BACKBONE, TABULAR_BATCH_SIZE, compare_tabular

    if args.backbone == TABULAR_BACKBONE and strategy == "linear-probe":
        raise TransferkitError(
            "--strategy linear-probe trains a head on a frozen backbone, but a new tabular_mlp "
            "has random weights: there is nothing to probe", "use --strategy finetune (the "
            "default), or transfer a trained one with --backbone file:SRC_RUN")
    if args.task == "multilabel":
        raise TransferkitError("the tabular backbone takes --task classification or "
                               "regression, not multilabel", "use one of those")
    data = _load(args.data, args, mixed=True)
    test = _load(args.test, args, mixed=True) if args.test else None
    if test is not None and args.task == "classification":
        test = dataclasses.replace(test, y=labels_as(np.unique(data.y), test.y, test.name,
                                                     data.name))
    if args.backbone == TABULAR_BACKBONE:  # a new schema reads every column: flag identifiers
        for j, name in enumerate(data.feature_names or []):
            column = data.X[:, j]
            if (name.lower() == "id" or name.lower().endswith(("_id", " id"))) and len(
                    set(column.tolist())) == len(column):
                warnings.warn(f"column '{name}' holds a different value in every row (an "
                              "identifier?): the model reads it as a feature -- drop it with "
                              f"--drop-columns {name}", AdaptWarning, stacklevel=2)
    comparison = compare_tabular(
        data, backbone=args.backbone, seeds=seeds, test_size=args.test_size,
        val_size=args.val_size, labels_per_class=args.labels_per_class,
        baseline=not args.no_baseline, test_data=test, task=args.task, strategy=strategy,
        strategy_params=strategy_params, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size or TABULAR_BATCH_SIZE,
        threshold_metric=args.threshold_metric or None,
        finetune_params={"checkpoint_dir": str(ckpt), "resume": args.resume,
                         "verbose": not args.quiet},
        label_column=args.label_column)
    what = (f"{len(np.unique(data.y))} classes" if args.task == "classification"
            else "regression")
    print(f"data: {args.data} ({len(data)} rows, {len(data.feature_names or [])} feature "
          f"columns, tabular, {what})")
    print(f"protocol: {comparison.protocol}")
    print(comparison.table())
    _warn_and_save(comparison, out)
    if _is_checkpoint_dir(ckpt):  # the run is saved: its checkpoints are done
        shutil.rmtree(ckpt, ignore_errors=True)
    print(f"saved run to {out}")
    return 0


def _check_task(args: argparse.Namespace) -> None:
    """``--task`` and the options that go with it, before any data is read."""
    from .tasks import TASKS

    kinds = [k for k in TASKS if k != "multitask"]
    if args.task not in kinds:
        raise TransferkitError(f"unknown task kind '{args.task}'", f"use one of: "
                               f"{', '.join(kinds)}")
    if args.task != "classification" and args.labels_per_class:
        raise TransferkitError(f"--labels-per-class draws labels per class; a {args.task} "
                               "task has none", "drop --labels-per-class")
    if args.task != "classification" and args.strategy == "auto":
        raise TransferkitError(f"strategy 'auto' probes class labels; the task is {args.task}",
                               "name a strategy, e.g. --strategy finetune")


def _is_checkpoint_dir(path: Path) -> bool:
    """Whether ``path`` holds only training checkpoints: per-seed folders ``seed<N>``, the
    baseline's ``from-scratch/seed<N>`` and the plain fit's ``all-labels/seed<N>`` beside a
    ``--drop-flagged`` one (plus the staging folders of an interrupted write)."""
    from .experiment import BASELINE_CHECKPOINTS

    if not path.is_dir():
        return False
    children = [c for c in path.iterdir() if not c.name.startswith(".")]
    nested = (BASELINE_CHECKPOINTS, ALL_LABELS_CHECKPOINTS)
    return all(c.is_dir() and ((c.name.startswith("seed") and c.name[4:].isdigit())
                               or (c.name in nested and _is_checkpoint_dir(c)))
               for c in children)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from .backbones import check_modality, load_backbone
    from .finetune import FineTuneModel, TrainConfig
    from .finetune.lr_find import lr_find

    strategy, params = _strategy(args)
    from .finetune.strategies import make_strategy

    if args.steps < 2 or not 0 < args.start < args.end:
        raise TransferkitError(f"lr-find needs --steps >= 2 and 0 < --start < --end, got "
                               f"{args.steps}, {args.start}, {args.end}",
                               "use the defaults (--steps 60 --start 1e-7 --end 1)")
    data = _load(args.data, args)
    backbone = load_backbone(_default_backbone(args, data))
    check_modality(backbone, data.modality)
    classes = np.unique(data.y)
    model = FineTuneModel(backbone, len(classes))
    result = lr_find(model, make_strategy(strategy, **params), data.X,
                     np.searchsorted(classes, data.y), TrainConfig(batch_size=args.batch_size),
                     start=args.start, end=args.end, steps=args.steps)
    print(f"lr range test: {strategy} on {args.data} ({len(data)} samples), "
          f"{len(result.lrs)} steps, smoothed training loss")
    print(result.table())
    print(f"suggested lr: {result.suggestion:.2e} (steepest descent; minimum loss at "
          f"{result.min_loss_lr:.2e})")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from ._io import check_out_dir
    from .adapt import ADAPTERS
    from .adapt.deep import DOMAIN_LOSSES, SOURCE_ONLY, DeepDomainAdaptation
    from .adapt.deep.base import make_domain_loss
    from .adapt.deep.select import DEEP_SELECTORS
    from .base import label_codes
    from .metrics import classification_metrics, format_table
    from .results import results_document
    from .runformat import CONFIG

    if args.method in ADAPTERS:
        return _adapt_shallow(args)
    if args.method != SOURCE_ONLY and args.method not in DOMAIN_LOSSES:
        raise TransferkitError(  # one line before any data is read
            f"unknown domain-adaptation method '{args.method}'",
            f"use a shallow method on features ({', '.join(sorted(ADAPTERS))}) or a deep one "
            f"({', '.join(sorted(DOMAIN_LOSSES))}, {SOURCE_ONLY})")
    if args.target_labelled:
        raise TransferkitError(f"{args.method} never uses target labels, so --target-labelled "
                               "has nothing to do", "drop --target-labelled, or use tradaboost, "
                               "regular-transfer or multitask")
    if args.zscore:
        raise TransferkitError("--zscore standardises the features of shallow methods; a deep "
                               "method trains on the inputs themselves", "drop --zscore")
    args.selector = args.selector or "dev"
    if args.selector not in DEEP_SELECTORS:
        raise TransferkitError(f"unknown selector '{args.selector}'",
                               f"use one of: {', '.join(DEEP_SELECTORS)}")
    if args.oracle and not args.target_test:
        raise TransferkitError("--oracle needs --target-test", "pass a labelled target test set")
    strategy, strategy_params = _strategy(args)
    method_params = _json_params(args.params, args.method)
    if method_params and args.method == SOURCE_ONLY:
        raise TransferkitError("--params has nothing to set for source-only", "drop --params")
    if method_params:  # bad options fail here, before any data is read
        make_domain_loss(args.method, 8, 2, **method_params)
    check_out_dir(args.out, CONFIG)
    source, target, test, _ = _adapt_data(args)
    backbone = _default_backbone(args, source, args.source, image="lenet")
    methods = [args.method] + ([] if args.no_baseline or args.method == SOURCE_ONLY
                               else [SOURCE_ONLY])
    held_out = "20% held out for selection"
    source_parts: dict = {"X": source.X, "y": source.y}
    if source.split is not None and (source.split == "val").any():  # the user's own split
        train, val = np.flatnonzero(source.split != "val"), np.flatnonzero(source.split == "val")
        source_parts = {"X": take(source.X, train), "y": source.y[train],
                        "X_val": take(source.X, val), "y_val": source.y[val]}
        held_out = f"its {len(val)} 'val' samples held out for selection"
    print(f"source: {args.source} ({len(source)} labelled, {held_out}); "
          f"target: {args.target} ({len(target)} samples, labels unused); backbone "
          f"{backbone}, strategy {strategy}, {args.epochs} epochs, seed {args.seed}", flush=True)
    rows, fitted = [], {}
    for method in methods:
        clf = DeepDomainAdaptation(
            method=method, method_params=method_params if method == args.method else None,
            trade_off=args.trade_off, selector=args.selector,
            backbone=backbone, strategy=strategy, strategy_params=strategy_params,
            epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
            verbose=not args.quiet, random_state=args.seed)
        oracle = (test.X, test.y) if args.oracle else None
        clf.fit(**source_parts, X_target=target.X, oracle=oracle)
        fitted[method] = clf
        if test is not None:
            m = classification_metrics(label_codes(clf.classes_, np.asarray(test.y)),
                                       clf.predict_proba(test.X), None)
            if args.oracle:
                m["oracle_accuracy"] = clf.oracle_accuracy_
            rows.append((f"{method} (epoch {clf.best_epoch_ + 1} by {args.selector})", m))
    for clf in fitted.values():
        print(clf.report())
    if rows:
        columns = ("accuracy", "balanced_accuracy", "f1_macro") + (
            ("oracle_accuracy",) if args.oracle else ())
        print(f"scored on {args.target_test} ({len(test)} labelled target samples) only:")
        print(format_table(rows, columns))
        if args.oracle:
            print("oracle_accuracy = best epoch picked on the target test labels: an upper "
                  "bound, NOT a valid estimate")
    if args.out:
        protocol = (f"labelled source {args.source}, unlabelled target {args.target}; the "
                    f"epoch chosen by selector '{args.selector}' without target labels"
                    + (f"; scored on {args.target_test} only" if test is not None else ""))
        metrics = results_document(
            "adapt-deep", rows, protocol,
            history={name: clf.history_ for name, clf in fitted.items()},
            selector=args.selector, method=args.method)
        evaluation = _adapt_evaluation(fitted, args.method, source, target, test, backbone)
        fitted[args.method].save(args.out, metrics=metrics, evaluation=evaluation)
        print(f"saved run to {args.out}")
    return 0


def _adapt_evaluation(fitted: dict[str, Any], method: str, source: Any, target: Any,
                      test: Any, backbone: str) -> dict[str, Any]:
    """A deep adapt run's ``evaluation.json``: the adapted model on the labelled target test
    set (when given) and the source and target features before (the source-only model, or
    the backbone before training with --no-baseline) and after adaptation."""
    from .adapt.deep import SOURCE_ONLY
    from .backbones import load_backbone
    from .base import label_codes
    from .evaluation import domain_record
    from .features import extract_features

    model = fitted[method]
    record, target_part = _target_record(
        model, None if test is None else (test.X, test.y), target.X, model.predict_proba)
    if method != SOURCE_ONLY and SOURCE_ONLY in fitted:
        before, name = fitted[SOURCE_ONLY].transfer_backbone(), "the source-only model"
    else:
        before, name = load_backbone(backbone), f"{backbone} before training"
    after = model.transfer_backbone()
    source_part = (source.X, label_codes(model.classes_, np.asarray(source.y)))
    record["domains"] = domain_record(
        lambda X, _domain: extract_features(before, X, progress=False),
        lambda X, _domain: extract_features(after, X, progress=False),
        source_part, target_part, name)
    return record


def _target_record(model: Any, test: tuple[Any, Any] | None, X_target: Any,
                   outputs: Callable[[Any], np.ndarray]) -> tuple[dict[str, Any], tuple]:
    """An adapt run's ``evaluation.json`` on its labelled target test set ``(X, labels)``
    (without one: no predictions, the reason instead), and the target part ``(X, class
    codes)`` its by-domain view draws: the test set, else the unlabelled target (codes -1)."""
    from .base import label_codes
    from .evaluation import evaluation_record

    if test is None:
        record = {"task": "classification", "classes": [str(c) for c in model.classes_],
                  "y_true": None, "y_pred": None, "embedding": None, "examples": [],
                  "embedding_missing": "no labelled target test set (--target-test)"}
        return record, (X_target, np.full(len(X_target), -1))
    X_test, codes = test[0], label_codes(model.classes_, np.asarray(test[1]))
    record = evaluation_record(model, X_test, codes, outputs(X_test), "classification",
                               model.classes_)
    return record, (X_test, codes)


def _shallow_evaluation(model: Any, features: dict[str, np.ndarray], y_source: Any,
                        test: Any, where: str) -> dict[str, Any]:
    """A shallow adapt run's ``evaluation.json``: its predictions on the labelled target test
    set (when given) and, for feature-based methods (those with ``transform``), the source
    and target features before (``where``) and after the method's map."""
    from .base import label_codes
    from .evaluation import domain_record

    def one_hot(X: np.ndarray) -> np.ndarray:  # not every adapter's estimator has proba
        return np.eye(len(model.classes_))[label_codes(model.classes_, model.predict(X))]

    record, target_part = _target_record(
        model, None if test is None else (features["test"], test.y), features["target"],
        one_hot)
    if hasattr(model, "transform"):
        record["domains"] = domain_record(
            lambda X, _domain: X, lambda X, domain: model.transform(X, domain=domain),
            (features["source"], label_codes(model.classes_, np.asarray(y_source))),
            target_part, where)
    return record


def _adapt_data(args: argparse.Namespace):
    """Labelled source, target (labels ignored), optional labelled target test data and (for
    the few-labelled-target methods) the labelled target samples."""
    from .adapt import AdaptWarning

    source = _load(args.source, args)
    target = _load(args.target, args, labelled=False)
    test = _load(args.target_test, args) if args.target_test else None
    few = _load(args.target_labelled, args) if args.target_labelled else None
    for part in (target, test, few):
        if part is not None and part.modality != source.modality:
            raise TransferkitError(
                f"source is {source.modality} data but {part.name} is {part.modality}",
                "give source and target data of the same kind")
    # tables: columns matched by name, not position; the target's labels are never read
    target = align_to(source, target, labels=False)
    test, few = (None if part is None else align_to(source, part) for part in (test, few))
    if test is not None and few is not None:
        shared = np.isin(item_digests(test.X, test.modality), item_digests(few.X, few.modality))
        if shared.all():
            raise TransferkitError(
                f"every {test.name} sample is also in {few.name}, the labelled samples the "
                "model trains on: that score says nothing about new data",
                "score on target samples that are not among the --target-labelled ones")
        if shared.any():
            warnings.warn(f"{shared.sum()} of the {shared.size} {test.name} samples are also in "
                          f"{few.name}, which the model trains on: the score is optimistic -- "
                          "drop them from the test set", AdaptWarning, stacklevel=2)
    return source, target, test, few


def _show(caught: list[warnings.WarningMessage]) -> None:
    """Show warnings recorded by ``warnings.catch_warnings(record=True)``, each once."""
    for w in {(str(w.message), w.category): w for w in caught}.values():
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _adapt_shallow(args: argparse.Namespace) -> int:
    """``transferkit adapt --method coral|tca|...``: a shallow method on feature arrays (or on
    frozen pretrained features of images/text), beside the same classifier without it."""
    from ._io import SHALLOW_PREDICTIONS, atomic_dir, check_out_dir, write_json, write_text
    from .adapt import get_adapter
    from .adapt.datasets import zscore
    from .backbones import load_backbone
    from .base import label_codes
    from .evaluation import EVALUATION
    from .features import extract_features
    from .metrics import classification_metrics, format_table
    from .results import results_document

    model = get_adapter(args.method)()
    if model.uses_target_labels and not args.target_labelled:
        raise TransferkitError(f"{args.method} trains on a few labelled target samples",
                               "pass them with --target-labelled FILE")
    if args.target_labelled and not model.uses_target_labels:
        raise TransferkitError(f"{args.method} never uses target labels, so --target-labelled "
                               "has nothing to do", "drop --target-labelled, or use tradaboost, "
                               "regular-transfer or multitask")
    if args.oracle:
        raise TransferkitError("--oracle applies to deep methods (it reports the epoch picked on "
                               "test labels)", "drop --oracle for a shallow method")
    if args.selector is not None:
        raise TransferkitError(
            "--selector chooses a deep method's epoch; a shallow method has none",
            "drop --selector (to choose a shallow method's parameters without target labels, "
            "use transferkit.adapt.LabelFreeSearch in Python)")
    params = _json_params(args.params, args.method)

    def bad_params(exc: Exception) -> TransferkitError:
        return TransferkitError(
            f"bad --params for {args.method}: {str(exc).splitlines()[0]}",
            "pass a JSON object of its parameters, e.g. --params '{\"n_components\": 20}' "
            f"(it has: {', '.join(sorted(model.get_params(deep=False)))})")

    try:
        model.set_params(**params)
    except (TypeError, ValueError, AttributeError) as exc:
        raise bad_params(exc) from exc
    check_out_dir(args.out, SHALLOW_PREDICTIONS)
    source, target, test, few = _adapt_data(args)
    parts = {key: part for key, part in (("source", source), ("target", target), ("test", test),
                                         ("few", few)) if part is not None}
    if source.modality == "tabular":
        features = {key: np.asarray(part.X, dtype=np.float64) for key, part in parts.items()}
        where = "features as given"
    else:
        name = _default_backbone(args, source, args.source)
        backbone = load_backbone(name)
        features = {key: extract_features(backbone, part.X).astype(
            np.float64) for key, part in parts.items()}
        where = f"frozen {name} features"
    if args.zscore:  # each domain standardised with its own statistics; target data with the
        reference = features["target"]  # (unlabelled) target's
        features = {key: zscore(X) if key == "source" else zscore(X, reference)
                    for key, X in features.items()}
        where += ", z-scored per domain"
    Xs, Xt = features["source"], features["target"]
    try:  # the data's warnings are shown once the fit succeeded, never beside its error
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            baseline = model.source_only_estimator()
            if few is None:
                model.fit(Xs, source.y, Xt)
            else:
                model.fit(Xs, source.y, features["few"], yt=few.y)
    except (TypeError, ValueError) as exc:  # the error is the one line: no data warnings
        if not params or isinstance(exc, TransferkitError):
            raise
        raise bad_params(exc) from exc  # not TransferkitError: a parameter's value
    _show(caught)
    baselines = {f"no adaptation ({type(baseline).__name__})": baseline.fit(Xs, source.y)}
    if few is not None and np.unique(few.y).size > 1:
        alone = model.source_only_estimator().fit(features["few"], few.y)
        baselines[f"labelled target only ({type(alone).__name__})"] = alone
    print(f"source: {args.source} ({len(source)} labelled); target: {args.target} "
          f"({len(target)} samples, labels unused); "
          + (f"labelled target: {args.target_labelled} ({len(few)} samples); "
             if few is not None else "")
          + f"{where}; {args.method} with "
          f"{json.dumps(params) if params else 'default parameters'}")
    rows = []
    if test is not None:
        y_true = label_codes(model.classes_, np.asarray(test.y))
        for label, clf in ((args.method, model), *baselines.items()):
            pred = label_codes(model.classes_, clf.predict(features["test"]))
            rows.append((label, classification_metrics(y_true, np.eye(len(model.classes_))[pred])))
        print(f"scored on {args.target_test} ({len(test)} labelled target samples) only:")
        print(format_table(rows, ("accuracy", "balanced_accuracy", "f1_macro")))
    if args.out:
        table = io.StringIO()  # csv quotes labels with commas or quotes in them
        csv.writer(table, lineterminator="\n").writerows(
            [("index", "label"), *enumerate(model.predict(Xt))])
        with atomic_dir(args.out, only_replace_if=SHALLOW_PREDICTIONS) as tmp:
            write_text(tmp / SHALLOW_PREDICTIONS, table.getvalue())
            protocol = (f"labelled source {args.source}, target {args.target} (labels unused)"
                        + (f", {args.target_labelled} labelled" if few is not None else "")
                        + f"; {where}; parameters as given"
                        + (f"; scored on {args.target_test} only" if test is not None else ""))
            write_json(tmp / "metrics.json", results_document(
                "adapt-shallow", rows, protocol, method=args.method, params=params))
            write_json(tmp / f"{EVALUATION}.json", _shallow_evaluation(
                model, features, source.y, test, where))
        print(f"wrote {len(target)} target predictions to {args.out}/target_predictions.csv")
    return 0


def _read_inputs(path: str, args: argparse.Namespace, modality: str):
    """Inputs for predict: an image, a folder of images, a text file, a table, or arrays
    (``.npz``/``.mat``, as for fit)."""
    from .data import load_dataset
    from .data.images import IMAGE_SUFFIXES
    from .data.loaders import check_text_sizes, load_table

    p = Path(path)
    if not p.exists():
        raise TransferkitError(f"inputs not found: {p}", "check the path")
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise TransferkitError(f"no images under {p}", "point at a folder of images")
        return files, files
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return [str(p)], [str(p)]
    if p.suffix.lower() in (".csv", ".tsv", ".parquet", ".pq", ".npz", ".mat"):
        ds = (load_table(p, label_column=None, text_column=args.text_column,
                         image_column=args.image_column) if p.suffix.lower() not in
              (".npz", ".mat") else load_dataset(p, labelled=False))
        if ds.modality in ("text", "image") and not isinstance(ds.X, np.ndarray):
            return ds.X, [str(x) for x in ds.X]  # the text itself, or the image's path
        return ds.X, [str(i) for i in range(len(ds))]  # an array row: its row number
    if modality != "text":
        raise TransferkitError(
            f"{p.name} is not an image or a table, but the model takes {modality} inputs",
            "pass image files or a folder of images",
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TransferkitError(f"{p.name} is not a UTF-8 text file, but the model takes text "
                               "inputs", "pass a text file with one input per line, or a "
                               "table with a text column") from exc
    lines = [line.rstrip("\n") for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    check_text_sizes(lines, p.name)
    return lines, lines


def _schema_inputs(path: str, args: argparse.Namespace, schema: Any) -> tuple[Any, list[str]]:
    """Inputs for a tabular model: a table's rows in the model's column schema (columns by
    name, extra ones ignored, unseen categories 'unknown'), and their row numbers."""
    from .data import load_dataset
    from .tabular_compare import table_rows

    if Path(path).suffix.lower() not in (".csv", ".tsv", ".parquet", ".pq"):
        raise TransferkitError(f"{Path(path).name} is not a table, but the model reads table "
                               "rows", "pass a .csv/.tsv/.parquet table with its columns")
    ds = load_dataset(path, labelled=False, label_column=None, mixed=True,
                      drop_columns=getattr(args, "drop_columns", None))
    return table_rows(ds, schema, f"the model {args.run_dir}"), [str(i) for i in range(len(ds))]


def cmd_predict(args: argparse.Namespace) -> int:
    from ._io import atomic_path
    from .runformat import load_run

    if args.output and Path(args.output).is_dir():
        raise TransferkitError(f"--output {args.output} is a folder", "name a CSV file")
    clf = load_run(args.run_dir)
    if getattr(getattr(clf, "task_", None), "name", "") == "multitask":
        return _predict_multitask(clf, args)
    schema = getattr(clf.backbone_, "schema", None)
    X, ids = (_schema_inputs(args.inputs, args, schema) if schema is not None
              else _read_inputs(args.inputs, args, clf.backbone_.modality))
    from .base import predictions

    proba = predictions(clf, X)
    labels = clf.predict(X)
    kind = getattr(getattr(clf, "task_", None), "name", "classification")
    if kind == "regression":  # one value per input
        header, labels, proba = ["input", "value"], [f"{v:.6g}" for v in labels], proba[:, :0]
    elif kind == "multilabel":  # the label set (joined by --label-sep) and p per label
        sep = clf.get_params().get("label_sep", "|")
        labels = [sep.join(map(str, clf.classes_[row == 1])) for row in labels]
    if kind != "regression":
        header = ["input", "labels" if kind == "multilabel" else "label",
                  *[f"p_{c}" for c in clf.classes_]]
    rows = [[i, lab, *(f"{p:.6f}" for p in ps)] for i, lab, ps in zip(ids, labels, proba,
                                                                       strict=True)]
    if args.output:
        with atomic_path(args.output) as tmp, open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        csv.writer(sys.stdout).writerows([header, *rows])
    return 0


def _task_metrics(clf: Any, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The test metrics of a multi-label or regression run on labelled ``data``."""
    from .base import predictions as outputs
    from .tasks import MultiLabel, Regression, label_sets

    predictions = outputs(clf, data.X)
    if isinstance(clf.task_, MultiLabel):
        truth = clf.task_.encode(label_sets(data.y, args.label_sep,
                                            data.meta.get("label_columns")),
                                 f"{data.name}'s labels")
        thresholds = 0.5 if clf.threshold_ is None else np.asarray(clf.threshold_)
        return clf.task_.metrics(truth, predictions, thresholds)
    return Regression.metrics(Regression.encode_values(data.y, f"{data.name}'s labels"),
                              predictions[:, 0])


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .base import label_codes
    from .experiment import TASK_METRICS
    from .metrics import classification_metrics, format_table
    from .runformat import load_run

    clf = load_run(args.run_dir)
    if getattr(getattr(clf, "task_", None), "name", "") == "multitask":
        return _evaluate_multitask(clf, args)
    kind = getattr(getattr(clf, "task_", None), "name", "classification")
    if args.label_columns and kind != "multilabel":
        raise TransferkitError(f"--label-columns gives the labels of a multi-label run; "
                               f"{args.run_dir} is a {kind} run", "drop --label-columns")
    schema = getattr(getattr(clf, "backbone_", None), "schema", None)
    data = _load(args.data, args, mixed=schema is not None)
    if schema is not None:  # a tabular model: the table's rows in its column schema
        import dataclasses

        from .tabular_compare import table_rows

        data = dataclasses.replace(data, X=table_rows(data, schema, f"the model {args.run_dir}"))
    where = ""
    if data.split is not None and (data.split == "test").any():  # root/{train,val,test}/...
        data = data.subset(np.flatnonzero(data.split == "test"))
        where = ", its 'test' split"
    if kind in TASK_METRICS:  # multilabel, regression
        m = _task_metrics(clf, data, args)
        if args.json:
            print(json.dumps(m, sort_keys=True))
            return 0
        print(f"{args.run_dir} on {args.data}{where} ({m['n']} samples)")
        print(format_table([(f"transfer ({clf.backbone_.name})", m)], TASK_METRICS[kind]))
        return 0
    codes = label_codes(clf.classes_, np.asarray(data.y))
    m = classification_metrics(codes, clf.predict_proba(data.X), clf.threshold_)
    if args.json:
        print(json.dumps(m, sort_keys=True))
        return 0
    print(f"{args.run_dir} on {args.data}{where} ({m['n']} samples)")
    print(format_table([(f"transfer ({clf.backbone_.name})", m)],
                       ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro",
                        "f1_macro", "roc_auc")))
    print("confusion matrix (rows: true, columns: predicted; order: "
          f"{', '.join(map(str, clf.classes_))}):")
    for row in m["confusion_matrix"]:
        print("  " + " ".join(f"{v:5d}" for v in row))
    return 0


# ---------------------------------------------------------------- multi-task (--tasks)
def _fit_multitask(args: argparse.Namespace, seeds: tuple[int, ...], strategy: str,
                   strategy_params: dict, out: Path, ckpt: Path) -> int:
    """``fit --tasks``: the multi-task model against from-scratch, the learnt task weights,
    the run saved to ``out``."""
    import shutil

    from .data.multitask import load_multitask
    from .experiment_multitask import compare_multitask, format_weights
    from .tasks import WEIGHTINGS, parse_tasks

    if args.task is not None:
        raise TransferkitError(f"--tasks names the tasks itself; --task {args.task} is for a "
                               "single task", "drop --task (or drop --tasks)")
    kinds = parse_tasks(args.tasks)
    if args.loss_weighting not in WEIGHTINGS:
        raise TransferkitError(f"unknown loss weighting '{args.loss_weighting}'",
                               f"use one of: {', '.join(WEIGHTINGS)}")
    if not (np.isfinite(args.gradnorm_alpha) and args.gradnorm_alpha >= 0):
        raise TransferkitError(f"--gradnorm-alpha must be >= 0, got {args.gradnorm_alpha}",
                               "use e.g. --gradnorm-alpha 1.5")
    if args.labels_per_class:
        raise TransferkitError("--labels-per-class draws labels per class of one task",
                               "drop --labels-per-class with --tasks")
    if strategy == "auto":
        raise TransferkitError("strategy 'auto' probes one task's class labels",
                               "name a strategy, e.g. --strategy finetune")
    columns = {"text_column": args.text_column, "image_column": args.image_column}
    data, labels = load_multitask(args.data, list(kinds), **columns)
    test, test_labels = (load_multitask(args.test, list(kinds), **columns) if args.test
                         else (None, None))
    if test is not None:
        test = align_to(data, test, labels=False)
    comparison = compare_multitask(
        data, labels, kinds, weighting=args.loss_weighting, alpha=args.gradnorm_alpha,
        backbone=_default_backbone(args, data), seeds=seeds, test_size=args.test_size,
        val_size=args.val_size, baseline=not args.no_baseline, test_data=test,
        test_labels=test_labels, strategy=strategy, strategy_params=strategy_params,
        epochs=args.epochs, lr=args.lr, label_sep=args.label_sep,
        finetune_params={"checkpoint_dir": str(ckpt), "resume": args.resume,
                         "verbose": not args.quiet,
                         **({"batch_size": args.batch_size} if args.batch_size else {})})
    print(f"data: {args.data} ({len(data)} samples, {data.modality}, multi-task: "
          + ", ".join(f"{n} ({k})" for n, k in kinds.items()) + ")")
    print(f"protocol: {comparison.protocol}")
    print(comparison.table())
    print(format_weights(comparison.extra["task_weights"], args.loss_weighting))
    comparison.model.save(out, metrics=comparison.to_json())
    if _is_checkpoint_dir(ckpt):  # the run is saved: its checkpoints are done
        shutil.rmtree(ckpt, ignore_errors=True)
    print(f"saved run to {out}")
    return 0


def _predict_multitask(clf: Any, args: argparse.Namespace) -> int:
    """``predict`` of a multi-task run: one column per task (a class label, a value, or a
    multi-label set joined by ``|``)."""
    from ._io import atomic_path
    from .data.multitask import TABLE_SUFFIXES, load_multitask

    names = list(clf.task_.tasks)
    if Path(args.inputs).suffix.lower() in TABLE_SUFFIXES:  # task columns are never features
        data, _ = load_multitask(args.inputs, names, labelled=False,
                                 text_column=args.text_column, image_column=args.image_column)
        X = data.X
        ids = ([str(x) for x in X] if data.modality in ("text", "image")
               else [str(i) for i in range(len(data))])
    else:
        X, ids = _read_inputs(args.inputs, args, clf.backbone_.modality)
    predicted = clf.predict(X)
    columns = []
    for name, sub in clf.task_.tasks.items():
        values = predicted[name]
        if sub.name == "regression":
            columns.append([f"{v:.6g}" for v in values])
        elif sub.name == "multilabel":
            columns.append(["|".join(map(str, sub.classes_[row == 1])) for row in values])
        else:
            columns.append([str(v) for v in values])
    rows = [["input", *names], *([i, *cells] for i, *cells in zip(ids, *columns, strict=True))]
    if args.output:
        with atomic_path(args.output) as tmp, open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        print(f"wrote {len(rows) - 1} predictions to {args.output}")
    else:
        csv.writer(sys.stdout).writerows(rows)
    return 0


def _evaluate_multitask(clf: Any, args: argparse.Namespace) -> int:
    """``evaluate`` of a multi-task run: per-task metrics (``task/metric``)."""
    from .data.multitask import load_multitask
    from .experiment_multitask import metric_keys, multitask_metrics, task_targets
    from .metrics import format_table

    kinds = {name: sub.name for name, sub in clf.task_.tasks.items()}
    data, labels = load_multitask(args.data, list(kinds), text_column=args.text_column,
                                  image_column=args.image_column)
    where = ""
    if data.split is not None and (data.split == "test").any():
        keep = np.flatnonzero(data.split == "test")
        data, labels = data.subset(keep), {k: v[keep] for k, v in labels.items()}
        where = ", its 'test' split"
    targets = task_targets(kinds, labels, args.label_sep, data.name)
    m = multitask_metrics(clf.task_, targets, clf.predict_proba(data.X))
    if args.json:
        print(json.dumps(m, sort_keys=True))
        return 0
    print(f"{args.run_dir} on {args.data}{where} ({m['n']} samples)")
    print(format_table([(f"transfer ({clf.backbone_.name})", m)], metric_keys(clf.task_)))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ._io import check_out_dir
    from .pretrain import (
        SELF_SUPERVISED_BATCH,
        SUPERVISED_BATCH,
        SelfSupervisedPretrainer,
        pretrain_supervised,
        source_architecture,
    )
    from .runformat import CONFIG

    check_out_dir(args.out, CONFIG)  # before the work, so none is lost
    if args.epochs < 1:
        raise TransferkitError(f"--epochs must be >= 1, got {args.epochs}", "use e.g. --epochs 10")
    if not 0 <= args.val_size < 1:
        raise TransferkitError(f"--val-size must be in [0, 1), got {args.val_size}",
                               "use e.g. --val-size 0.1")
    method = args.self_supervised
    if method is None and (args.params or args.monitor):
        raise TransferkitError("--params and --monitor belong to a self-supervised pretrain",
                               "add --self-supervised simclr, or drop them")
    tabular = args.arch == "tabular_mlp" or (args.arch is None and str(args.data).lower()
                                            .endswith((".csv", ".tsv", ".parquet", ".pq")))
    if method is None:
        data = _load(args.data, args, mixed=tabular)
        source = pretrain_supervised(
            data, args.arch, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size or SUPERVISED_BATCH, validation_fraction=args.val_size,
            random_state=args.seed, verbose=not args.quiet)
        classes = len(source.classes_)
        print(f"source: {args.data} ({len(data)} samples, {data.modality}, {classes} classes)")
        best = source.result_.history[source.result_.best_epoch] if source.n_validation_ else {}
        print(f"protocol: {source.backbone_.name}, every weight trained, lr {args.lr:g}, "
              f"{args.epochs} epochs, batch {args.batch_size or SUPERVISED_BATCH}, seed "
              f"{args.seed}; " + (f"the epoch chosen on a stratified {args.val_size:.0%} "
                                  "validation split of the source" if best else "the last epoch"))
        if best:
            print(f"source validation accuracy: {best['val_accuracy']:.4f} (epoch "
                  f"{source.result_.best_epoch + 1})")
        source.save(args.out, pretrain={"data": str(args.data), "supervised": True})
    else:
        from .finetune.selfsup import SELF_SUPERVISED

        SELF_SUPERVISED.get(method)  # an unknown method: one line before any data is read
        params = _json_params(args.params, method)
        data = _load(args.data, args, labelled=False, mixed=tabular)
        monitor = _load(args.monitor, args) if args.monitor else None
        backbone = source_architecture(args.arch, data)
        source = SelfSupervisedPretrainer(
            backbone, method=method, method_params=params, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size or SELF_SUPERVISED_BATCH, random_state=args.seed,
            verbose=not args.quiet)
        source.fit(data.X, X_monitor=None if monitor is None else monitor.X,
                   y_monitor=None if monitor is None else monitor.y)
        print(f"source: {args.data} ({len(data)} samples, {data.modality}, no labels used)")
        options = f" {json.dumps(params)}" if params else ""
        print(f"protocol: {backbone.name}, {method}{options}, lr {args.lr:g}, "
              f"{args.epochs} epochs, batch {args.batch_size or SELF_SUPERVISED_BATCH}, seed "
              f"{args.seed}; the last epoch is kept (nothing is selected)")
        last = source.result_.history[-1]
        if "knn_accuracy" in last:
            print(f"k-NN accuracy on {args.monitor} (monitor only): {last['knn_accuracy']:.4f}")
        source.save(args.out, pretrain={"data": str(args.data), "supervised": False})
    print(f"saved source model to {args.out}; transfer it with: transferkit fit TARGET "
          f"--backbone file:{args.out} --strategy finetune")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    import time

    from ._io import atomic_dir, write_json

    if bool(args.candidates) == bool(args.sources):
        raise TransferkitError("rank needs either --candidates (models) or --sources (data)",
                               "give one of them, e.g. --candidates efficientnet_lite0,lenet")
    if args.out and Path(args.out).exists() and not (Path(args.out) / "ranking.json").is_file():
        raise TransferkitError(f"{args.out} exists and holds no ranking",
                               "choose another --out (nothing was touched)")
    if args.sources:
        result = _rank_sources(args)
    else:
        from .ranking.candidates import check_fit_top, fit_top, rank_candidates
        from .ranking.scores import SCORES

        SCORES.get(args.score)
        if args.fit_top is not None:
            check_fit_top(args.fit_top, len(args.candidates))
            seeds = _seed_list(args.seeds)
        if not 0 <= args.test_size < 1:
            raise TransferkitError(f"--test-size must be in [0, 1), got {args.test_size}",
                                   "use e.g. --test-size 0.2")
        data = _load(args.data, args)
        t0 = time.perf_counter()
        ranking = rank_candidates(data, args.candidates, test_size=args.test_size,
                                  seed=args.seed, labels_per_class=args.labels_per_class,
                                  engine=args.engine)
        rank_s = time.perf_counter() - t0
        if args.fit_top:
            fit_top(ranking, data, args.fit_top, score=args.score, seeds=seeds,
                    epochs=args.epochs, lr=args.lr, verbose=not args.quiet)
        print(f"target: {args.data} ({len(data)} samples, {data.modality}, "
              f"{len(np.unique(data.y))} classes)")
        print(f"protocol: {ranking.protocol}")
        print(ranking.table(args.score))
        print(f"ranking {len(args.candidates)} candidates took {rank_s:.1f} s")
        if ranking.actual:
            from scipy.stats import kendalltau

            fitted = [n for n in ranking.order(args.score) if n in ranking.actual]
            actual = sorted(fitted, key=lambda n: -ranking.actual[n]["accuracy"])
            per_fit = np.mean([ranking.actual[n]["seconds"] for n in fitted]) / len(seeds)
            print(f"predicted order ({args.score}): {', '.join(fitted)}")
            print(f"actual order (test accuracy, {args.epochs} epochs finetune, seeds "
                  f"{seeds}): {', '.join(actual)}")
            if len(fitted) > 1:
                tau = kendalltau([-i for i in range(len(fitted))],
                                 [ranking.actual[n]["accuracy"] for n in fitted]).statistic
                print(f"Kendall tau between them: {tau:.3f}")
            print(f"one fine-tuning took {per_fit:.1f} s on average; ranking all "
                  f"{len(args.candidates)} took {rank_s:.1f} s")
        result = ranking.to_json() | {"data": str(args.data), "rank_seconds": rank_s}
    if args.out:
        with atomic_dir(args.out, only_replace_if="ranking.json") as stage:
            write_json(stage / "ranking.json", result)
        print(f"saved ranking to {args.out}")
    return 0


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as integers (one line on anything else)."""
    try:
        seeds = tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError as exc:
        raise TransferkitError(f"--seeds {text!r} is not a list of integers",
                               "write e.g. --seeds 0,1,2") from exc
    if not seeds:
        raise TransferkitError("--seeds names no seed", "write e.g. --seeds 0,1,2")
    return seeds


def _rank_sources(args: argparse.Namespace) -> dict[str, Any]:
    """``rank TARGET --sources S1,S2``: each source's distance to the target on one fixed
    backbone's features (feature arrays as they are)."""
    from .backbones import check_modality, load_backbone
    from .features import extract_features
    from .ranking.sources import rank_sources

    if len(args.sources) < 2:
        raise TransferkitError("--sources names one dataset: there is nothing to order",
                               "name two or more, e.g. --sources a.mat,b.mat")
    try:  # the target's labels, when it has them, feed the source-head score
        target = _load(args.data, args)
    except TransferkitError:  # none: the distances alone (a second problem is raised)
        target = _load(args.data, args, labelled=False)
    sources = {name: _load(name, args) for name in args.sources}
    backbone = None
    if target.modality in ("image", "text"):
        backbone = load_backbone(_default_backbone(args, target))
    for name, data in sources.items():
        if data.modality != target.modality:
            raise TransferkitError(f"source {name} holds {data.modality} data; the target "
                                   f"holds {target.modality}", "rank sources of the "
                                   "target's kind")

    def features(data) -> np.ndarray:
        if backbone is None:
            return np.asarray(data.X, dtype=np.float64)
        check_modality(backbone, data.modality)
        return extract_features(backbone, data.X, engine=args.engine).astype(np.float64)

    rows = rank_sources({name: (features(d), np.asarray(d.y)) for name, d in sources.items()},
                        features(target), target.y)
    how = backbone.name if backbone is not None else "the features as given"
    print(f"target: {args.data} ({len(target)} samples); features: {how}")
    print(_source_table(rows))
    return {"data": str(args.data), "sources": rows, "features": how}


def _source_table(rows: list[dict[str, Any]]) -> str:
    """``rank --sources`` rows as a table: each score, its rank and time; then each order."""
    from .metrics import text_table
    from .ranking.sources import SCORES as SOURCE_SCORES

    header = ["source", "samples"] + [f"{s} ({SOURCE_SCORES[s]} is better)"
                                      for s in SOURCE_SCORES]
    body = []
    for r in rows:
        cells = [r["source"], str(r["n_samples"])]
        for s in SOURCE_SCORES:
            cells.append("n/a" if r.get(s) is None else
                         f"{r[s]:.4g} (#{r[f'{s}_rank']}, {r[f'{s}_seconds']:.2f} s)")
        body.append(cells)
    lines = [text_table(header, body)]
    for s in SOURCE_SCORES:
        ranked = sorted((r for r in rows if r.get(f"{s}_rank")), key=lambda r: r[f"{s}_rank"])
        if ranked:
            lines.append(f"order by {s}: {', '.join(r['source'] for r in ranked)}")
        notes = {r[f"{s}_note"] for r in rows if r.get(f"{s}_note")}
        lines += [f"{s}: {note}" for note in sorted(notes)]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    import time

    from .report import build_report

    out = Path(args.output)
    if out.is_dir():
        raise TransferkitError(f"-o {out} is a folder", "name the HTML file to write, e.g. "
                               f"-o {out / 'report.html'}")
    if not out.parent.is_dir():
        raise TransferkitError(f"the folder of -o {out} does not exist",
                               f"create it first (mkdir -p {out.parent}) or write elsewhere")
    t0 = time.perf_counter()
    build_report(args.runs, out, seed=args.seed)
    print(f"wrote {out} ({len(args.runs)} run(s), {out.stat().st_size / 1e6:.1f} MB, "
          f"{time.perf_counter() - t0:.1f} s); open it in a browser, it needs no network")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .results import read_results
    from .tune import (
        DEFAULT_STRATEGIES,
        STUDY_FILE,
        AdaptSpace,
        FixedSplit,
        TuneSpace,
        open_storage,
        run_study,
        tune_document,
    )

    out = Path(args.out)
    blocking = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise TransferkitError(f"{blocking} is a file, so {out} cannot be a run dir",
                               "choose another --out folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STUDY_FILE).is_file():
        kind = None
        if (out / "metrics.json").is_file():
            kind = read_results(out).get("kind")
        if kind != "tune":
            raise TransferkitError(f"{out} exists and is not a tune run dir",
                                   "choose another --out folder (nothing was touched)")
    if args.n_trials < 1:
        raise TransferkitError(f"--n-trials must be >= 1, got {args.n_trials}",
                               "use e.g. --n-trials 12")
    if args.timeout is not None and not args.timeout > 0:
        raise TransferkitError(f"--timeout must be > 0 seconds, got {args.timeout}",
                               "use e.g. --timeout 600")
    if args.epochs < 1:
        raise TransferkitError(f"--epochs must be >= 1, got {args.epochs}", "use e.g. "
                               "--epochs 3")
    if not 0 < args.test_size < 1 or not 0 < args.val_size < 1 or (
            args.test_size + args.val_size >= 1):
        raise TransferkitError(f"--test-size and --val-size must be in (0, 1) with a sum "
                               f"< 1, got {args.test_size} and {args.val_size}",
                               "use e.g. --test-size 0.2 --val-size 0.2 (tuning needs both)")
    if args.target is None and (args.methods is not None or args.target_test):
        raise TransferkitError("--methods and --target-test belong to a domain-adaptation "
                               "search", "add --target TARGET (unlabelled target data), or "
                               "drop them")
    args.task = args.task or "classification"
    if args.target is not None and args.task != "classification":
        raise TransferkitError(f"tune --target adapts classifiers, not a {args.task} task",
                               "drop --target to tune the task on its own data, or --task")
    if args.target is not None:
        strategies = tuple(("finetune",) if args.strategies is None else args.strategies)
        space = AdaptSpace(strategies=strategies, backbone=args.backbone or "",
                           epochs=args.epochs, batch_size=args.batch_size)
        if args.methods is not None:
            space.methods = tuple(args.methods)
    else:
        strategies = tuple(DEFAULT_STRATEGIES if args.strategies is None else args.strategies)
        space = TuneSpace(strategies=strategies, backbone=args.backbone or "", head=args.head,
                          epochs=args.epochs, batch_size=args.batch_size, engine=args.engine,
                          threshold_metric=args.threshold_metric or None, task=args.task)
    space.check()  # an empty search space: one line before any data is read
    created = not out.exists()
    if not args.storage:
        out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{(out / STUDY_FILE).resolve()}"
    try:  # an unreachable storage: one line before any data is read
        opened = open_storage(storage)
    except TransferkitError:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    if args.target is not None:
        return _tune_adaptation(args, space, opened, out)
    data = _load(args.data, args)
    space.backbone = _default_backbone(args, data)
    if any(not space.frozen(s) for s in strategies):
        from .backbones import check_modality, load_backbone

        backbone = load_backbone(space.backbone)
        check_modality(backbone, data.modality)
        space.context["layer_groups"] = len(backbone.layer_groups())
    from .experiment import task_split, task_targets

    if args.task == "classification":
        y = np.asarray(data.y)
        what = f"{len(np.unique(y))} classes"
    else:
        y = task_targets(data, args.task, None, args.label_sep)
        what = args.task
    split, split_protocol = task_split(y, args.task, data, None, 0, args.test_size,
                                       args.val_size, 0)
    fixed = FixedSplit(*(take(part, idx) for idx in (split.train, split.val, split.test)
                         for part in (data.X, y)), split_protocol)
    if space.frozen(strategies[0]) or "linear-probe" in strategies:  # one extraction pass
        from .base import shared_backbone
        from .features import extract_features

        extract_features(shared_backbone(space.backbone), data.X, batch_size=args.batch_size,
                         engine=args.engine)
    out.mkdir(parents=True, exist_ok=True)
    name = args.study_name or out.resolve().name
    print(f"data: {args.data} ({len(data)} samples, {data.modality}, {what}); study "
          f"'{name}' in {storage}; strategies {', '.join(strategies)}", flush=True)
    result = run_study(space, fixed, opened, name, args.n_trials, timeout=args.timeout,
                       seed=args.seed, settings={"data": Path(args.data).name, "n": len(data),
                                                 "test_size": args.test_size,
                                                 "val_size": args.val_size})
    chosen_there = {"classification": "the epoch and binary threshold",
                    "multilabel": "the epoch and per-label thresholds",
                    "regression": "the epoch"}[args.task]
    protocol = (f"{split_protocol} (seed 0, the same split in every trial); each trial "
                f"trained on train, scored on validation ({space.objective_name}; "
                f"{chosen_there} also chosen there, no refit on train + validation); the "
                "best trial's configuration and the default one refit the same way and "
                "scored once on the test split")
    doc = tune_document(result, protocol, data=str(args.data), storage=_redact(storage))
    _tune_report(result, doc, protocol, out)
    return 0


def _tune_report(result: Any, doc: dict[str, Any], protocol: str, out: Path) -> None:
    """Print a tune run's protocol, comparison and importances; write its metrics.json."""
    from ._io import write_json

    print(f"protocol: {protocol}")
    print(result.table())
    if doc.get("importances"):
        print("importances (fANOVA): " + ", ".join(
            f"{k} {v:.2f}" for k, v in doc["importances"].items()))
    else:
        print(f"importances: none ({doc['importances_missing']})")
    write_json(out / "metrics.json", doc)
    print(f"saved {out / 'metrics.json'} ({len(doc['trials'])} trials, this run ran "
          f"{result.ran})")


def _tune_adaptation(args: argparse.Namespace, space: Any, storage: Any, out: Path) -> int:
    """``tune SOURCE --target TARGET``: deep domain adaptation, each trial's value the
    label-free DEV score of its selected epoch; the target test set (when given) is scored
    once for the best and the default configuration."""
    from .data.split import stratified_split
    from .tune import FixedSplit, run_study, tune_document

    args.source, args.target_labelled = args.data, None
    source, target, test, _ = _adapt_data(args)
    space.backbone = _default_backbone(args, source, args.data, image="lenet")
    if any(s == "partial" for s in space.strategies):
        from .backbones import load_backbone

        space.context["layer_groups"] = len(load_backbone(space.backbone).layer_groups())
    y = np.asarray(source.y)
    split = stratified_split(y, 0.0, args.val_size, 0)
    fixed = FixedSplit(take(source.X, split.train), y[split.train], take(source.X, split.val),
                       y[split.val], None if test is None else test.X,
                       None if test is None else np.asarray(test.y), split.protocol,
                       X_target=target.X)
    out.mkdir(parents=True, exist_ok=True)
    name = args.study_name or out.resolve().name
    print(f"source: {args.data} ({len(source)} labelled); target: {args.target} "
          f"({len(target)} samples, labels unused); study '{name}'; methods "
          f"{', '.join(space.methods)}; strategies {', '.join(space.strategies)}", flush=True)
    result = run_study(space, fixed, storage, name, args.n_trials, timeout=args.timeout,
                       seed=args.seed, settings={"data": Path(args.data).name, "n": len(source),
                                                 "target": Path(args.target).name,
                                                 "val_size": args.val_size})
    protocol = (f"labelled source {args.data}: stratified {args.val_size:.0%} held out (seed "
                f"0, the same in every trial); unlabelled target {args.target}; each trial's "
                f"value is the label-free {space.selector.upper()} score of the epoch its "
                "selector kept (no target label read)"
                + (f"; the best and the default configuration scored once on "
                   f"{args.target_test}" if test is not None else
                   "; no --target-test: nothing scored on target labels"))
    doc = tune_document(result, protocol, data=str(args.data), target=str(args.target),
                        storage=_redact(storage.url if hasattr(storage, "url") else ""))
    _tune_report(result, doc, protocol, out)
    return 0


def _redact(url: str) -> str:
    """A storage URL without its password (``user:secret@host`` -> ``user:***@host``)."""
    import re

    return re.sub(r"(//[^/:@]+:)[^@/]*@", r"\1***@", url)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(seeds=args.seeds)
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "fit": cmd_fit,
    "audit": cmd_audit,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
    "backbones": cmd_backbones,
    "lr-find": cmd_lr_find,
    "adapt": cmd_adapt,
    "pretrain": cmd_pretrain,
    "rank": cmd_rank,
    "report": cmd_report,
    "tune": cmd_tune,
}


_default_showwarning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """transferkit's own warnings as one ``warning: ...`` line; others as Python prints them."""
    from .adapt import AdaptWarning

    if issubclass(category, AdaptWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.showwarning = _one_line_warning
    try:
        with progress_bars(False if args.quiet else None):
            return COMMANDS[args.command](args)
    except TransferkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `transferkit backbones | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
