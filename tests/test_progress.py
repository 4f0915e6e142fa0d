"""Progress bars: shown where asked, silent under --quiet and for quick work."""

from __future__ import annotations

import pytest
from adapt.adapt_testdata import toy_shift

from transferkit import cli, progress
from transferkit.adapt import JDA, MEDA, LabelFreeSearch
from transferkit.progress import Stages, hidden, progress_bars, steps


def test_bars_follow_the_innermost_block(capsys, monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    with progress_bars(True):
        assert list(steps(range(3), "counting")) == [0, 1, 2]
        with progress_bars(False):
            list(steps(range(3), "hushed"))
    err = capsys.readouterr().err
    assert "counting" in err and "hushed" not in err
    assert hidden(True) is False and hidden(False) is True  # an explicit argument wins


def test_no_block_hides_bars_when_the_environment_says_so(monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_NO_PROGRESS", "1")
    assert hidden() is True
    monkeypatch.delenv("TRANSFERKIT_NO_PROGRESS")
    assert hidden() is None  # tqdm's "terminal only"


def test_quick_loops_print_nothing(capsys):
    with progress_bars(True):
        list(steps(range(3), "quick"))  # well under DELAY
    assert "quick" not in capsys.readouterr().err


@pytest.mark.parametrize("make, desc", [
    (lambda: JDA(n_components=2, n_iter=3), "JDA pseudo-label rounds"),
    (lambda: LabelFreeSearch(JDA(n_components=2, n_iter=1), {"reg": [0.1, 1.0]}),
     "LabelFreeSearch (dev)"),
    (lambda: MEDA(n_components=2, n_iter=2), "MEDA"),
])
def test_iterative_adapters_report_their_rounds(make, desc, capsys, monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    Xs, ys, Xt, _ = toy_shift()
    with progress_bars(True):
        make().fit(Xs, ys, Xt)
    assert desc in capsys.readouterr().err


def test_stages_count_the_finished_ones_and_name_the_running_one(capsys, monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    with progress_bars(True), Stages("set-up", 3) as bar:
        bar.start("load")
        assert bar._bar.n == 0
        bar.start("fit")
        bar.start("score")
        assert bar._bar.n == 2 and bar._bar.postfix == "score"
    assert bar._bar.n == 3  # leaving the block ends the last stage
    assert "set-up" in capsys.readouterr().err


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_quiet_hides_every_bar(quiet, monkeypatch):
    monkeypatch.delenv("TRANSFERKIT_NO_PROGRESS")  # set for every test by conftest
    seen = []
    monkeypatch.setitem(cli.COMMANDS, "backbones", lambda args: seen.append(hidden()) or 0)
    assert cli.main(["backbones", *(["--quiet"] if quiet else [])]) == 0
    assert seen == [True if quiet else None]  # None: on a terminal only
    assert hidden() is None  # the setting ends with the command
