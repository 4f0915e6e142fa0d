"""``transferkit tune``: search spaces beside their code, the pruning callback, a small study
through the CLI (metrics.json, resume), two processes on one SQLite file, one-line errors."""

import io
import json
import logging
import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
from tiny_models import make_squares

from transferkit.cli import main
from transferkit.finetune.callbacks import TrainState
from transferkit.finetune.strategies import STRATEGIES, make_strategy
from transferkit.heads import HEADS
from transferkit.tune import OptunaPruning, TuneSpace

#: cheap: LeNet (random init, 16x16 images), one epoch per fine-tuning trial
CHEAP = ["--backbone", "lenet", "--strategies", "linear-probe,partial", "--epochs", "1",
         "--seed", "0"]


@pytest.fixture
def squares(tmp_path):
    X, Y = make_squares(120)
    path = tmp_path / "squares.npz"
    np.savez(path, X=X, y=Y[:, 0])
    return path


def _trial(pruner=None):
    study = optuna.create_study(direction="maximize", pruner=pruner)
    return study, study.ask()


def test_each_strategy_and_head_declares_a_search_space_that_builds_it():
    for name, cls in STRATEGIES.items():
        _, trial = _trial()
        params = cls.search_space(trial, layer_groups=4)
        assert all(p.startswith(f"{name}.") for p in trial.params)  # its own names
        make_strategy(name, **params)  # the suggested options are valid
    _, trial = _trial()
    assert 1 <= STRATEGIES.get("partial").search_space(trial, layer_groups=4)["freeze"] <= 3
    for _name, cls in HEADS.items():
        _, trial = _trial()
        cls(**cls.search_space(trial))
    _, trial = _trial()
    assert set(HEADS.get("logistic").search_space(trial)) == {"C"}


def test_each_deep_adaptation_method_declares_a_search_space_that_builds_it():
    from transferkit.adapt.deep import DOMAIN_LOSSES, DeepDomainAdaptation, make_domain_loss

    for name, cls in DOMAIN_LOSSES.items():
        _, trial = _trial()
        make_domain_loss(name, 8, 2, **cls.search_space(trial))
        assert all(p.startswith(f"{name}.") for p in trial.params)
    _, trial = _trial()
    space = DeepDomainAdaptation.search_space(trial, "mcc")
    assert set(space) == {"method_params", "trade_off"} and "temperature" in \
        space["method_params"]
    _, trial = _trial()
    assert DeepDomainAdaptation.search_space(trial, "source-only") == {}


def test_importing_transferkit_does_not_import_optuna():
    code = ("import sys, transferkit, transferkit.cli, transferkit.finetune, transferkit.heads; "
            "print('optuna' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_a_trial_config_asks_the_strategy_the_head_and_the_loop():
    space = TuneSpace(strategies=("linear-probe", "partial"), backbone="lenet",
                      context={"layer_groups": 3})
    seen = set()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        config = space.suggest(trial)
        seen.add(config["strategy"])
        if config["strategy"] == "partial":
            assert set(config["loop"]) == {"lr", "weight_decay"} and config["head"] is None
            assert set(trial.params) == {"strategy", "partial.freeze", "lr", "weight_decay"}
        else:
            assert set(config["head_params"]) == {"C"} and not config["loop"]
        study.tell(trial, 0.5)
    assert seen == {"linear-probe", "partial"}


def test_the_pruning_callback_reports_and_prunes():
    study, trial = _trial(optuna.pruners.ThresholdPruner(lower=0.9))
    callback = OptunaPruning(trial)
    callback.on_epoch_end(None, TrainState(score=None), 0, {})  # no score: nothing reported
    with pytest.raises(optuna.TrialPruned):
        callback.on_epoch_end(None, TrainState(score=(0.5, -0.7)), 0, {})
    assert study.trials[0].intermediate_values == {0: 0.5}
    _, kept = _trial(optuna.pruners.ThresholdPruner(lower=0.1))
    OptunaPruning(kept).on_epoch_end(None, TrainState(score=(0.5,)), 0, {})  # not pruned


def test_the_loop_stops_a_pruned_fine_tuning(squares):
    from transferkit.data import load_dataset
    from transferkit.tune import FixedSplit

    data = load_dataset(squares)
    X, y = data.X, np.asarray(data.y)
    split = FixedSplit(X[:60], y[:60], X[60:90], y[60:90], X[90:], y[90:], "test split")
    space = TuneSpace(strategies=("partial",), backbone="lenet", epochs=3,
                      context={"layer_groups": 3})
    config = {"strategy": "partial", "strategy_params": {"freeze": 1}, "head": None,
              "head_params": {}, "loop": {"lr": 1e-3, "weight_decay": 0.01}}

    class Never(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    study, trial = _trial(Never())
    with pytest.raises(optuna.TrialPruned, match="after epoch 1"):
        space.fit(config, split, callbacks=[OptunaPruning(trial)])
    assert list(study.trials[0].intermediate_values) == [0]  # stopped after the first epoch


def test_tune_writes_metrics_and_resumes_only_the_missing_trials(squares, tmp_path,
                                                                 isolated_cache, capsys):
    out = tmp_path / "tune"
    assert main(["--quiet", "tune", str(squares), "--n-trials", "2", "--out", str(out),
                 *CHEAP]) == 0
    text = capsys.readouterr().out
    assert text.count("\ntrial ") + text.startswith("trial ") == 2  # one line per trial
    assert "tuned, best of 2 trials" in text and "default (lenet + logistic head)" in text
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["kind"] == "tune" and doc["schema"] == "transferkit.results"
    assert len(doc["trials"]) == 2 and (out / "study.db").is_file()
    assert {"number", "value", "params", "state"} <= set(doc["trials"][0])
    assert {"number", "value", "params", "test"} <= set(doc["best"])
    assert doc["best"]["value"] == max(t["value"] for t in doc["trials"]
                                       if t["value"] is not None)
    assert doc["best"]["val_accuracy"] == pytest.approx(doc["best"]["value"])
    assert [r["name"].split()[0] for r in doc["rows"]] == ["tuned,", "default"]
    assert "accuracy" in doc["rows"][0]["metrics"]
    assert doc["importances"] or doc["importances_missing"]

    assert main(["--quiet", "tune", str(squares), "--n-trials", "3", "--out", str(out),
                 *CHEAP]) == 0
    text = capsys.readouterr().out
    assert "holds 2 finished trial(s); running the 1 missing" in text
    doc = json.loads((out / "metrics.json").read_text())
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2]
    assert main(["--quiet", "tune", str(squares), "--n-trials", "3", "--out", str(out),
                 *CHEAP]) == 0  # already complete: nothing runs
    assert len(json.loads((out / "metrics.json").read_text())["trials"]) == 3
    assert main(["--quiet", "tune", str(squares), "--n-trials", "9", "--timeout", "0.01",
                 "--out", str(out), *CHEAP]) == 0  # one trial, then no new one starts
    assert "--timeout 0.01 s reached" in capsys.readouterr().out
    assert len(json.loads((out / "metrics.json").read_text())["trials"]) == 4

    from transferkit.report.page import build_report

    page = build_report([out], tmp_path / "report.html").read_text()
    assert "<h2>Trials</h2>" in page and 'data-plot="history"' in page


def test_two_processes_share_one_sqlite_study(squares, tmp_path, isolated_cache):
    out = tmp_path / "shared"
    env = {**os.environ, "TRANSFERKIT_NO_PROGRESS": "1"}
    command = [sys.executable, "-m", "transferkit", "--quiet", "tune", str(squares),
               "--n-trials", "6", "--out", str(out), "--backbone", "lenet",
               "--strategies", "linear-probe"]
    workers = [subprocess.Popen([*command, "--seed", str(seed)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for seed in (1, 2)]
    results = [w.communicate(timeout=300) for w in workers]
    for worker, (_stdout, stderr) in zip(workers, results, strict=True):
        assert worker.returncode == 0, stderr
        assert "locked" not in stderr and "Traceback" not in stderr
    ran = sum(int(stdout.rsplit("this run ran ", 1)[1].split(")")[0])
              for stdout, _ in results)
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{out / 'study.db'}")
    finished = [t for t in study.trials if t.state.is_finished()
                and not t.user_attrs.get("surplus")]
    assert len([t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]) == 6
    assert ran >= 6
    assert len(json.loads((out / "metrics.json").read_text())["trials"]) == 6


def test_a_study_resumes_after_its_worker_is_killed_mid_trial(squares, tmp_path,
                                                              isolated_cache, capsys,
                                                              monkeypatch):
    """kill -9 during a trial leaves it RUNNING in the study; once its heartbeat is older
    than the grace period, the next run marks it failed and runs the missing trials."""
    import signal
    import sqlite3
    import time

    import transferkit.tune as tune

    out = tmp_path / "killed"
    args = ["--quiet", "tune", str(squares), "--n-trials", "4", "--out", str(out), *CHEAP]
    env = {**os.environ, "TRANSFERKIT_NO_PROGRESS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "transferkit", *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    query = ("SELECT (SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'), "
             "(SELECT COUNT(*) FROM trials JOIN trial_heartbeats USING (trial_id) "
             "WHERE state = 'RUNNING')")
    try:
        while True:  # a trial done, the next running and beaten once: kill its worker
            assert worker.poll() is None, worker.stderr.read().decode()
            assert time.monotonic() < deadline, "no running trial seen"
            try:
                with sqlite3.connect(out / "study.db", timeout=5) as db:
                    if all(db.execute(query).fetchone()):
                        break
            except sqlite3.OperationalError:  # not created yet
                pass
            time.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    study = optuna.load_study(study_name="killed", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING in states  # left behind by the kill
    done = sum(s.is_finished() for s in states)
    assert done >= 1

    monkeypatch.setattr(tune, "GRACE_S", 1)
    time.sleep(1.5)  # its last heartbeat is now older than the grace period
    capsys.readouterr()
    assert main(args) == 0
    assert f"holds {done} finished trial(s)" in capsys.readouterr().out
    study = optuna.load_study(study_name="killed", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert optuna.trial.TrialState.FAIL in states  # the killed trial, marked failed
    assert sum(s in tune.FINISHED for s in states) == 4
    assert len(json.loads((out / "metrics.json").read_text())["trials"]) == 5  # + the failed


def test_a_trial_that_loses_the_race_for_the_last_slot_is_silent(squares, monkeypatch):
    """Two workers see one slot left; the other starts its trial first: ours gives up
    with no failure line or traceback from Optuna, and is not counted or reported."""
    import transferkit.tune as tune
    from transferkit.data import load_dataset

    data = load_dataset(squares)
    X, y = data.X, np.asarray(data.y)
    split = tune.FixedSplit(X[:60], y[:60], X[60:90], y[60:90], X[90:], y[90:], "test split")
    space = TuneSpace(strategies=("linear-probe",), backbone="lenet",
                      context={"layer_groups": 3})
    real_load = tune.load_study

    def racing_load(*args, **kwargs):
        study = real_load(*args, **kwargs)
        real_optimize = study.optimize

        def optimize(*a, **k):  # the other worker asks between our check and our trial
            other = study.ask()
            other.set_user_attr("config", space.default())
            real_optimize(*a, **k)
            study.tell(other, 0.5)  # ... and finishes it

        study.optimize = optimize
        return study

    monkeypatch.setattr(tune, "load_study", racing_load)
    seen = io.StringIO()  # Optuna's own handler holds whatever stderr was when it was made
    handler = logging.StreamHandler(seen)
    logging.getLogger("optuna").addHandler(handler)
    try:
        result = tune.run_study(space, split, optuna.storages.InMemoryStorage(), "race",
                                n_trials=1, echo=print, default=False)
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    err = seen.getvalue()
    assert "Traceback" not in err and "failed" not in err
    assert result.ran == 0  # the surplus trial is not one this process ran
    surplus = [t for t in result.study.trials if t.user_attrs.get("surplus")]
    assert len(surplus) == 1 and surplus[0].state == optuna.trial.TrialState.FAIL
    assert [t["number"] for t in tune.trial_records(result.study)] == [0]
    assert result.best_val is not None  # the other worker's best, refit here


@pytest.mark.parametrize("task, objective, shown", [
    ("regression", "validation R²", {"mae", "rmse", "r2", "val_r2"}),
    ("multilabel", "validation mAP", {"f1_micro", "f1_macro", "map", "subset_accuracy",
                                      "hamming_loss", "val_map"}),
])
def test_tune_searches_multilabel_and_regression_tasks(task, objective, shown, tmp_path,
                                                       isolated_cache, capsys):
    X, Y = make_squares(120)
    if task == "regression":  # the mean brightness, plus noise
        y = X.reshape(len(X), -1).mean(axis=1) / 10 + np.random.default_rng(0).normal(
            size=len(X))
    else:  # which patches are on: label sets "tl|br"
        y = np.asarray(["|".join(n for n, on in zip(("tl", "br"), row, strict=True) if on)
                        for row in Y])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    out = tmp_path / "tune"
    assert main(["--quiet", "tune", str(tmp_path / "d.npz"), "--task", task, "--n-trials",
                 "3", "--out", str(out), *CHEAP]) == 0
    text = capsys.readouterr().out
    assert f"{task}); study" in text and text.count(f": {objective} ") == 3  # one per trial
    assert f"scored on validation ({objective};" in text
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["objective"] == objective
    assert {"tuned,", "default"} == {r["name"].split()[0] for r in doc["rows"]}
    assert set(doc["rows"][0]["metrics"]) == shown
    key = f"val_{'r2' if task == 'regression' else 'map'}"
    assert doc["best"][key] == pytest.approx(max(t["value"] for t in doc["trials"]
                                                 if t["value"] is not None))
    if task == "regression":  # R² as it is, not as a percentage
        best = doc["best"][key]
        assert f"{best:.4g}" in text and f"{100 * best:.2f}" not in text
    resumed = ["--quiet", "tune", str(tmp_path / "d.npz"), "--n-trials", "3", "--out",
               str(out), *CHEAP]  # the study was started for another task: refused
    assert main(resumed) == 2 and "task=" in capsys.readouterr().err


def test_adaptation_trials_are_chosen_by_the_label_free_dev_score(tmp_path, capsys):
    X, Y = make_squares(100, seed=0)
    np.savez(tmp_path / "source.npz", X=X, y=Y[:, 0])
    Xt, Yt = make_squares(60, seed=1)
    Xt = np.clip(Xt.astype(int) + 40, 0, 255).astype(np.uint8)  # a brighter target domain
    np.savez(tmp_path / "target.npz", X=Xt[:40], y=Yt[:40, 0])  # its labels are never read
    np.savez(tmp_path / "test.npz", X=Xt[40:], y=Yt[40:, 0])
    out = tmp_path / "da"
    assert main(["--quiet", "tune", str(tmp_path / "source.npz"), "--target",
                 str(tmp_path / "target.npz"), "--target-test", str(tmp_path / "test.npz"),
                 "--methods", "dann,source-only", "--epochs", "1", "--n-trials", "2",
                 "--seed", "0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "label-free DEV score" in text and "scored once on" in text
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["kind"] == "tune" and len(doc["trials"]) == 2
    assert doc["best"]["value"] == doc["best"]["dev_score"]  # the model that was scored
    assert "accuracy" in doc["best"]["test"] and "dev_score" in doc["rows"][0]["metrics"]
    assert all("trade_off" in t["params"] or t["params"].get("method") == "source-only"
               for t in doc["trials"])


@pytest.mark.parametrize("extra, message", [
    (["--storage", "postgresql://nohost:1/x"], "cannot open the study storage"),
    (["--storage", "sqlite:///{tmp}/missing/dir/study.db"], "cannot open the study storage"),
    (["--strategies", ""], "the search space is empty"),
    (["--strategies", "nope"], "unknown strategy 'nope'"),
    (["--n-trials", "0"], "--n-trials must be >= 1"),
    (["--methods", "dann"], "belong to a domain-adaptation search"),
    (["--target", "{tmp}/t.npz", "--methods", ""], "the search space is empty"),
    (["--target", "{tmp}/t.npz", "--methods", "nope"], "unknown deep domain-adaptation method"),
    (["--target", "{tmp}/t.npz", "--task", "regression"], "adapts classifiers, not a regr"),
    (["--task", "regression", "--head", "logistic"], "fits classification targets, not "),
    (["--task", "multitask"], "tune cannot search a multitask task"),
])
def test_bad_tune_input_is_one_line_exit_2(extra, message, squares, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["tune", str(squares), "--n-trials", "2", "--out", str(out), "--backbone", "lenet",
            *[a.format(tmp=tmp_path) for a in extra]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and " -- " in err
    assert not out.exists()  # nothing written


def test_tune_refuses_a_folder_it_did_not_write(squares, tmp_path, capsys):
    out = tmp_path / "other"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["tune", str(squares), "--n-trials", "1", "--out", str(out)]) == 2
    assert "is not a tune run dir" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


def test_a_space_where_nothing_is_searched_is_one_line(squares, tmp_path, capsys,
                                                       monkeypatch):
    from transferkit.heads.logistic import LogisticHead

    monkeypatch.setattr(LogisticHead, "search_space", classmethod(lambda cls, trial: {}))
    out = tmp_path / "run"
    assert main(["tune", str(squares), "--n-trials", "2", "--out", str(out), "--backbone",
                 "lenet", "--strategies", "linear-probe", "--head", "logistic"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the search space is empty: strategy 'linear-probe' with head 'logistic' has " \
        "nothing to search" in err and "\n" not in err
    assert not out.exists()
