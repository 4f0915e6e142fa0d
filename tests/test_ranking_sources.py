"""transferkit.ranking.sources: domain distances, the source-trained head, ranking sources."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import shared_path

from transferkit.errors import TransferkitError
from transferkit.ranking.sources import (
    SCORES,
    RankingWarning,
    mmd,
    proxy_a_distance,
    rank_sources,
    source_head_score,
)


def gaussian(n: int, d: int = 5, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def blobs(n_per_class: int, shift: float = 0.0, seed: int = 0, d: int = 5,
          n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` well separated Gaussian classes (centres fixed), moved by ``shift``."""
    centres = 4.0 * np.eye(n_classes, d)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(size=(y.size, d)) + shift, y


# --------------------------------------------------------------------------- MMD


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    base = gaussian(300, seed=0)
    same = mmd(base, gaussian(300, seed=1))
    values = [mmd(base, gaussian(300, shift=s, seed=1)) for s in (0.25, 0.5, 1.0, 2.0)]
    assert abs(same) < 0.01
    assert values[0] > 3 * abs(same)
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values


def test_mmd_is_the_unbiased_estimator():
    """Averaged over many small samples of one distribution it is ~0; the biased (V)
    estimator would average about 2 (1 - E k) / n > 0 here (n = 8)."""
    values = [mmd(gaussian(8, seed=2 * i), gaussian(8, seed=2 * i + 1), gamma=0.1)
              for i in range(300)]
    assert abs(np.mean(values)) < 0.01
    assert np.min(values) < 0  # an unbiased estimator of 0 must go below it


def test_mmd_subsamples_above_max_samples_with_its_seed():
    A, B = gaussian(3000, seed=0), gaussian(2500, shift=0.5, seed=1)
    small = mmd(A, B, max_samples=500, seed=3)
    assert small == mmd(A, B, max_samples=500, seed=3)
    assert small != mmd(A, B, max_samples=500, seed=4)
    assert small == pytest.approx(mmd(A, B), rel=0.2)


# --------------------------------------------------------------------------- PAD


def test_proxy_a_distance_is_near_0_for_one_distribution_and_2_when_separable():
    assert abs(proxy_a_distance(gaussian(300, seed=0), gaussian(300, seed=1))) < 0.3
    assert proxy_a_distance(gaussian(300, seed=0), gaussian(200, shift=5.0, seed=1)) >= 1.95


def test_proxy_a_distance_grows_with_the_shift():
    base = gaussian(300, seed=0)
    values = [proxy_a_distance(base, gaussian(300, shift=s, seed=1)) for s in (0.1, 0.5, 2.0)]
    assert values[0] < values[1] < values[2]


# --------------------------------------------------------------------------- head score


def test_source_head_score_high_for_shared_classes_low_for_permuted_labels():
    Xs, ys = blobs(100, seed=0)
    Xt, yt = blobs(50, shift=0.3, seed=1)
    assert source_head_score(Xs, ys, Xt, yt) > 0.9
    permuted = np.array([1, 2, 0])[yt]  # every target class named after another one
    assert source_head_score(Xs, ys, Xt, permuted) < 0.2


def test_source_head_score_refuses_target_classes_the_source_lacks():
    Xs, ys = blobs(50, seed=0)
    Xt, yt = blobs(20, seed=1, n_classes=4)
    with pytest.raises(TransferkitError, match="the target has 1 class.*the source lacks"):
        source_head_score(Xs, ys, Xt, yt)
    keep = ys != 2  # a source class missing from the target's labelled samples is fine
    assert source_head_score(Xs, ys, Xs[keep], ys[keep]) > 0.9


# --------------------------------------------------------------------------- rank_sources


def test_rank_sources_puts_the_closest_source_first_under_every_score():
    Xt, yt = blobs(60, seed=9)
    sources = {"far": blobs(60, shift=2.0, seed=1), "near": blobs(60, shift=0.2, seed=2),
               "middle": blobs(60, shift=0.8, seed=3),
               "scrambled": (blobs(60, shift=0.2, seed=4)[0], np.repeat([2, 0, 1], 60))}
    rows = rank_sources(sources, Xt, yt)
    assert [r["source"] for r in rows] == list(sources)  # input order
    by = {r["source"]: r for r in rows}
    for score in ("mmd", "proxy_a_distance"):
        order = sorted(["far", "near", "middle"], key=lambda s: by[s][f"{score}_rank"])
        assert order == ["near", "middle", "far"], (score, [by[s][score] for s in order])
    assert by["near"]["source_head_score_rank"] == 1
    assert by["scrambled"]["source_head_score_rank"] == 4  # near in features, wrong labels
    for r in rows:
        assert set(r) >= {"source", "n_samples", *(f"{s}{k}" for s in SCORES
                          for k in ("", "_seconds", "_rank", "_note"))}
        assert all(r[f"{s}_seconds"] >= 0 for s in SCORES)


def test_rank_sources_without_target_labels_or_with_a_missing_class():
    Xt, yt = blobs(30, seed=0)
    sources = {"a": blobs(30, shift=0.1, seed=1), "two-class": blobs(30, seed=2, n_classes=2)}
    rows = rank_sources(sources, Xt)
    assert all(r["source_head_score"] is None and r["source_head_score_rank"] is None
               and r["source_head_score_note"].startswith("n/a: needs target labels")
               for r in rows)
    assert sorted(r["mmd_rank"] for r in rows) == [1, 2]
    rows = rank_sources(sources, Xt, yt)
    assert rows[0]["source_head_score_rank"] == 1
    assert rows[1]["source_head_score"] is None
    assert "the source lacks" in rows[1]["source_head_score_note"]


def test_rank_sources_scores_a_labelled_subset_of_the_target():
    Xt, yt = blobs(40, seed=0)
    sources = {"a": blobs(40, shift=0.1, seed=1), "b": blobs(40, shift=1.0, seed=2)}
    labelled = np.zeros(len(yt), dtype=bool)
    labelled[::10] = True
    by_mask = rank_sources(sources, Xt, yt[labelled], labelled_rows=labelled,
                           scores=["source_head_score", "mmd"])
    by_index = rank_sources(sources, Xt, yt[labelled], labelled_rows=np.nonzero(labelled)[0],
                            scores=["source_head_score", "mmd"])
    assert [r["source_head_score"] for r in by_mask] == [
        source_head_score(*sources[s], Xt[labelled], yt[labelled]) for s in sources]
    assert [r["source_head_score"] for r in by_index] == [r["source_head_score"]
                                                          for r in by_mask]
    assert "proxy_a_distance" not in by_mask[0]
    # the distances use every target row, labelled or not
    assert by_mask[0]["mmd"] == pytest.approx(rank_sources(sources, Xt, scores="mmd")[0]["mmd"])


def test_rank_sources_warns_when_every_dataset_was_standardised_on_its_own():
    def standardised(X):
        return (X - X.mean(0)) / X.std(0)

    Xt, yt = blobs(30, seed=0)
    sources = {"a": blobs(30, shift=1.0, seed=1)}
    with pytest.warns(RankingWarning, match="standardised on its own"):
        rank_sources({"a": (standardised(sources["a"][0]), sources["a"][1])},
                     standardised(Xt), scores="mmd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rank_sources(sources, Xt, scores="mmd")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("Xs", "Xt", "message"), [
    (np.zeros(5), np.zeros((5, 2)), "must be 2-D"),
    (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN/inf"),
    (np.zeros((5, 3)), np.zeros((5, 2)), "3 feature columns but target has 2"),
    (np.zeros((1, 2)), np.zeros((5, 2)), "1 sample"),
    (np.zeros((5, 2)), np.zeros((1, 2)), "1 sample"),
    ([["a", "b"], ["c", "d"]], np.zeros((2, 2)), "not a numeric array"),
])
def test_bad_inputs_raise_one_line_errors(Xs, Xt, message):
    for fn in (mmd, proxy_a_distance):
        with pytest.raises(TransferkitError, match=message):
            fn(Xs, Xt)
    with pytest.raises(TransferkitError, match=message):
        source_head_score(Xs, [0, 1] * 3 if np.ndim(Xs) == 1 else [0, 1, 0, 1, 0][:len(Xs)],
                          Xt, [0] * len(Xt))


def test_rank_sources_bad_inputs():
    Xt = gaussian(10)
    with pytest.raises(TransferkitError, match="non-empty mapping"):
        rank_sources({}, Xt)
    with pytest.raises(TransferkitError, match="must be a pair"):
        rank_sources({"a": gaussian(10)}, Xt)
    with pytest.raises(TransferkitError, match="source 'a' has 4 feature columns"):
        rank_sources({"a": (gaussian(10, d=4), np.zeros(10))}, Xt)
    with pytest.raises(TransferkitError, match="unknown score"):
        rank_sources({"a": (gaussian(10), np.zeros(10))}, Xt, scores=["logme"])
    with pytest.raises(TransferkitError, match="has 3 labels for 10 samples"):
        rank_sources({"a": (gaussian(10), np.zeros(10))}, Xt, np.zeros(3))
    with pytest.raises(TransferkitError, match="labelled_rows must index"):
        rank_sources({"a": (gaussian(10), np.zeros(10))}, Xt, [0], labelled_rows=[10])
    with pytest.raises(TransferkitError, match="gamma must be"):
        mmd(gaussian(10), Xt, gamma=-1.0)


# --------------------------------------------------------------------------- real data


def _surf_common_scaling() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Office-Caltech10 SURF, row-sum normalised, all 4 domains z-scored with one pooled
    mean/std (one transform for every dataset, as `transferkit rank` gives them)."""
    from scipy.io import loadmat

    from transferkit.adapt.datasets import SURF_DOMAINS, zscore

    folder = shared_path("office_caltech10_surf_gfk_original")
    raw = {}
    for key, name in SURF_DOMAINS.items():
        m = loadmat(str(folder / f"{name}_SURF_L10.mat"))
        X = m["fts"].astype(np.float64)
        raw[key] = (X / X.sum(1, keepdims=True), m["labels"].ravel().astype(int))
    pooled = np.vstack([X for X, _ in raw.values()])
    return {k: (zscore(X, pooled), y) for k, (X, y) in raw.items()}


@pytest.mark.realdata
def test_realdata_surf_rankings_find_the_close_pair_and_a_good_source():
    """Webcam and DSLR photograph the same objects (different cameras): for each of them
    the other is by far the best source (~84 % vs <= 45 % with CORAL + SVM, see
    benchmarks/source_ranking.py), and MMD must rank it first. The head score, on 3
    labelled target samples per class, must pick a source whose accuracy with a fixed
    adapter (CORAL + logistic regression on the per-domain z-scored features of the
    published protocol) on the rest of the target beats the worst source's on at least 3 of
    the 4 targets."""
    from sklearn.linear_model import LogisticRegression

    from transferkit.adapt import CORAL
    from transferkit.adapt.datasets import load_surf

    domains = _surf_common_scaling()
    protocol = {d: load_surf(shared_path(), d) for d in domains}
    wins = 0
    for t, (Xt, yt) in domains.items():
        sources = {s: domains[s] for s in domains if s != t}
        rng = np.random.default_rng(0)
        lab = np.zeros(len(yt), dtype=bool)
        for c in np.unique(yt):
            lab[rng.choice(np.nonzero(yt == c)[0], 3, replace=False)] = True
        rows = rank_sources(sources, Xt, yt[lab], labelled_rows=lab,
                            scores=["mmd", "source_head_score"])
        top = {score: min(rows, key=lambda r: r[f"{score}_rank"])["source"]
               for score in ("mmd", "source_head_score")}
        if t in "WD":
            assert top["mmd"] == ("D" if t == "W" else "W"), rows
        Zt = protocol[t][0]
        acc = {s: CORAL(LogisticRegression(max_iter=2000)).fit(*protocol[s], Zt)
               .score(Zt[~lab], yt[~lab]) for s in sources}
        print(t, {s: round(a, 3) for s, a in acc.items()}, top)
        wins += acc[top["source_head_score"]] > min(acc.values())
    assert wins >= 3
