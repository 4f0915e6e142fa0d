"""``transferkit report``: one self-contained HTML page for one or several run dirs.

A run dir is read through its files, never by re-running anything: ``metrics.json`` (the
results schema of :mod:`transferkit.results`: ``fit``, ``adapt-*``, ``tune``, ``audit``),
``config.json``, ``evaluation.json`` (:mod:`transferkit.evaluation`), ``ranking.json``
(``transferkit rank --out``) or ``audit.json`` (``transferkit audit --out``). Each part of
the page is drawn when the run holds what it needs; otherwise the page says which part is
missing and why. Plots are inline SVG (images inside them are PNG data), so the page opens
offline from ``file://``.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, read_json
from ..errors import TransferkitError
from ..evaluation import EVALUATION, decode_png
from ..metrics import format_metric
from ..results import PRIMARY_METRICS, SCHEMA, SCHEMA_VERSION, negative_transfer
from ..version import __version__
from . import plots

#: t-SNE runs on at most this many test points (a seeded subsample above it)
MAX_EMBEDDED = 5000
RUN_FILES = ("metrics.json", "ranking.json", "audit.json")


@dataclass
class Section:
    """One part of the page: its title and HTML, or the reason it is missing."""

    title: str
    html: str = ""
    missing: str | None = None


@dataclass
class ReportRun:
    """What one run dir holds for the report (documents as read from disk)."""

    path: Path
    kind: str
    doc: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The run dir's name (its path when it has none)."""
        return self.path.name or str(self.path)


def read_run(path: str | os.PathLike) -> ReportRun:
    """The documents of the run dir ``path``.

    Raises
    ------
    TransferkitError
        One line when ``path`` is not a run dir, or holds results of a schema version this
        transferkit does not read (the version is named).
    """
    path = Path(path)
    found = [name for name in RUN_FILES if (path / name).is_file()] if path.is_dir() else []
    if not found:
        raise TransferkitError(f"{path} is not a transferkit run (no {', '.join(RUN_FILES)})",
                               "pass the --out folder of fit, adapt, tune, rank or audit")
    doc = read_json(path / found[0])
    if found[0] == "ranking.json":
        return ReportRun(path, "rank", doc)
    version = doc.get("schema_version")
    if doc.get("schema") != SCHEMA or not isinstance(version, int) or version < 1:
        raise TransferkitError(
            f"{path / found[0]} has results schema version {version or 0} (written before "
            f"the versioned schema); this transferkit reads version 1 to {SCHEMA_VERSION}",
            "re-run the command that wrote it with this transferkit")
    if version > SCHEMA_VERSION:
        raise TransferkitError(
            f"{path / found[0]} has results schema version {version}; this transferkit "
            f"reads up to {SCHEMA_VERSION}", "upgrade transferkit to read it")
    config = read_json(path / "config.json") if (path / "config.json").is_file() else {}
    evaluation = (read_json(path / f"{EVALUATION}.json")
                  if (path / f"{EVALUATION}.json").is_file() else None)
    return ReportRun(path, doc.get("kind", "fit"), doc, config, evaluation)


# ---------------------------------------------------------------- the parts of one run


def _plot(name: str, markup: str, caption: str = "") -> str:
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot" data-plot="{html.escape(name)}">{markup}{cap}</figure>'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pair(value: dict[str, Any]) -> Any:
    return value["mean"] if value.get("sd") is None else (value["mean"], value["sd"])


def summary(run: ReportRun) -> Section:
    """The comparison table (mean ± sd over seeds), the protocol and any negative-transfer
    warning."""
    rows = run.doc.get("rows", [])
    if not rows:
        return Section("Results", missing="nothing was scored: the run had no labelled test "
                       "set" + (" (adapt --target-test)" if run.kind.startswith("adapt") else ""))
    keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    seeds = max((len(v) for v in run.doc.get("per_seed", {}).values()), default=1)
    table = _table(["model", *keys], [[r["name"], *(format_metric(
        _pair(r["metrics"][k]) if k in r["metrics"] else None, k) for k in keys)]
        for r in rows])
    warning = negative_transfer(run.doc)
    alarm = (f'<p class="warning" role="alert">&#9888; {html.escape(warning)}</p>'
             if warning else "")
    protocol = html.escape(run.doc.get("protocol", "") or "not recorded")
    return Section("Results", f"{alarm}{table}<p class='note'>mean ± sd over {seeds} "
                   f"seed(s); percentages unless the metric is in the targets' units.</p>"
                   f"<p><b>Protocol.</b> {protocol}</p>")


def learning(run: ReportRun) -> Section:
    """Training and validation curves of each model trained through the loop."""
    history = {name: records for name, records in run.doc.get("history", {}).items()
               if records}
    if not history:
        why = ("the head was fit on frozen features in one solve: no epochs to draw"
               if run.kind == "fit" else f"this {run.kind} run recorded no epochs")
        return Section("Learning curves", missing=why)
    best = run.config.get("result", {}).get("best_epoch")
    parts = []
    for name, records in history.items():
        chosen = best if best is not None else run.doc.get("chosen_epoch")
        parts.append(_plot(f"curves-{name}", plots.learning_curves(records, chosen),
                           f"{name}: the dashed line is the epoch kept (chosen on "
                           "validation only)"))
    return Section("Learning curves", "".join(parts))


def _classes(run: ReportRun, k: int) -> list[str]:
    names = (run.evaluation or {}).get("classes") or run.config.get("classes")
    return [str(c) for c in names] if names and len(names) == k else [str(i) for i in range(k)]


def errors(run: ReportRun) -> Section:
    """The confusion matrix and per-class precision/recall, per-label metrics of a
    multi-label run, or the residuals of a regression, from ``evaluation.json``."""
    ev = run.evaluation
    if ev is None:
        return Section("Errors on the test split", missing=_no_evaluation(run))
    if ev.get("y_true") is None:
        return Section("Errors on the test split", missing=ev.get("embedding_missing")
                       or "no labelled test split")
    y_true, y_pred = np.asarray(ev["y_true"]), np.asarray(ev["y_pred"])
    if ev["task"] == "regression":
        return Section("Errors on the test split", _plot(
            "residuals", plots.residuals(y_true.astype(float), y_pred.astype(float)),
            f"{len(y_true)} test samples of the saved model (first seed)"))
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if ev["task"] == "multilabel":
        p, r, f, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
        names = _classes(run, y_true.shape[1])
        rows = [[n, f"{100 * a:.1f}", f"{100 * b:.1f}", f"{100 * c:.1f}", int(s)]
                for n, a, b, c, s in zip(names, p, r, f, support, strict=True)]
        return Section("Errors on the test split", _plot(
            "per-label", plots.grouped_bars(names, {"precision": p, "recall": r, "F1": f},
                                            "score", "per-label metrics (test split)"))
            + _table(["label", "precision %", "recall %", "F1 %", "positives"], rows))
    k = len(ev.get("classes") or []) or int(max(y_true.max(), y_pred.max())) + 1
    names = _classes(run, k)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    p, r, _, support = precision_recall_fscore_support(y_true, y_pred, labels=list(range(k)),
                                                       zero_division=0)
    rows = [[n, f"{100 * a:.1f}", f"{100 * b:.1f}", int(s)]
            for n, a, b, s in zip(names, p, r, support, strict=True)]
    return Section("Errors on the test split", _plot(
        "confusion", plots.confusion(matrix, names),
        f"confusion matrix of the saved model (first seed) on {len(y_true)} test samples")
        + _plot("per-class", plots.grouped_bars(names, {"precision": p, "recall": r}, "score",
                                                "per-class precision and recall"))
        + _table(["class", "precision %", "recall %", "support"], rows))


def _no_evaluation(run: ReportRun) -> str:
    rerun = {"fit": "transferkit fit", "adapt-deep": "transferkit adapt --out"}.get(run.kind)
    if rerun is None:
        return f"{run.kind} runs do not record test predictions"
    return (f"the run has no evaluation.json (it was written before transferkit recorded test "
            f"predictions, or by a path that keeps none): re-run `{rerun}` to get it")


def _embed(points: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """2-D embedding ``(N, 2)`` and the method's name: UMAP when installed, else
    scikit-learn's t-SNE."""
    try:
        import umap  # type: ignore[import-not-found]

        return umap.UMAP(random_state=seed).fit_transform(points), "UMAP"
    except ImportError:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30, max(2, (len(points) - 1) / 3)))
        # one OpenMP thread: on a busy machine, scikit-learn's t-SNE threads spin-wait for
        # each other and run several times slower than one (measured: 17 s vs 36 s on 5,000
        # points with the second core taken; 0.5 s vs 14 s on 160)
        with threadpool_limits(1):
            return TSNE(n_components=2, init="pca", perplexity=perplexity,
                        random_state=seed, max_iter=500).fit_transform(points), "t-SNE"


def embedding(run: ReportRun, seed: int = 0) -> Section:
    """The test features in 2-D (t-SNE, or UMAP when installed), coloured by class."""
    ev = run.evaluation
    title = "Feature embedding"
    if ev is None:
        return Section(title, missing=_no_evaluation(run))
    if not ev.get("embedding"):
        return Section(title, missing=ev.get("embedding_missing") or "no features recorded")
    points = np.asarray(ev["embedding"]["points"], dtype=np.float32)
    labels = np.asarray(ev["embedding"]["labels"])
    note = f"all {len(points)} test samples"
    if len(points) > MAX_EMBEDDED:
        keep = np.sort(np.random.default_rng(seed).choice(len(points), MAX_EMBEDDED,
                                                          replace=False))
        points, labels = points[keep], labels[keep]
        note = (f"a seeded random subsample of {MAX_EMBEDDED} of the {len(ev['y_true'])} "
                "test samples (t-SNE cost grows with the points)")
    if ev["task"] == "regression":
        edges = np.quantile(labels.astype(float), [0.25, 0.5, 0.75])
        codes, names = np.digitize(labels.astype(float), edges), ["q1", "q2", "q3", "q4"]
    else:
        codes = labels.astype(int)
        names = _classes(run, int(codes.max()) + 1 if len(codes) else 0)
    flat, method = _embed(points, seed)
    return Section(title, _plot("embedding", plots.scatter_by(
        flat, [codes], [names], [f"{method} of the backbone's test features"]),
        f"{method} of the saved model's backbone features (PCA to "
        f"{points.shape[1]} dimensions first), coloured by the true class; {note}"))


def by_domain(run: ReportRun, seed: int = 0) -> Section:
    """An adapt run's source and target features in 2-D before and after adaptation,
    coloured by domain and by class (``evaluation.json``'s ``domains``)."""
    title = "Embedding by domain, before and after adaptation"
    domains = (run.evaluation or {}).get("domains")
    if not domains:
        return Section(title, missing=_no_evaluation(run) if run.kind == "adapt-deep" else
                       "shallow adapt runs do not record source and target features")
    domain = np.asarray(domains["domain"])
    labels = np.asarray(domains["labels"])
    known = labels >= 0
    k = int(labels.max()) + 1 if known.any() else 0
    names = _classes(run, k) + (["unlabelled"] if not known.all() else [])
    codes = np.where(known, labels, k)
    panels = []
    for key, what in (("before", domains.get("before_name", "before")),
                      ("after", "the adapted model")):
        flat, method = _embed(np.asarray(domains[key], dtype=np.float32), seed)
        panels.append(_plot(f"domains-{key}", plots.scatter_by(
            flat, [domain, codes], [["source", "target"], names],
            [f"{what}: by domain", f"{what}: by class"]),
            f"{method} of {what}'s features of {int((domain == 0).sum())} source and "
            f"{int((domain == 1).sum())} target samples"))
    return Section(title, "".join(panels) + "<p class='note'>Adaptation should bring the "
                   "target's points among the source's of the same class; the target's classes "
                   "are those of the labelled target test set, used here only to colour.</p>")


def cams(run: ReportRun) -> Section:
    """Grad-CAM heat maps on the few correct and wrong test images the run kept."""
    title = "Grad-CAM"
    ev = run.evaluation
    if ev is None:
        return Section(title, missing=_no_evaluation(run))
    if not ev.get("examples"):
        return Section(title, missing="the run kept no test images (Grad-CAM explains image "
                       "classifiers, fine-tuned or on a backbone's features)")
    from ..runformat import load_run
    from .gradcam import grad_cam

    try:
        model = load_run(run.path)
        shown = []
        for example in ev["examples"]:
            image = decode_png(example["image"])
            shown.append((image, grad_cam(model, image, example["pred"]), example))
    except (ValueError, TransferkitError) as exc:
        return Section(title, missing=f"the saved model could not be explained: {exc}")
    names = _classes(run, len(ev.get("classes") or []) or 1 + max(
        max(e["true"], e["pred"]) for e in ev["examples"]))
    return Section(title, _plot("gradcam", plots.heatmaps(shown, names),
                                "where the saved model looks for its predicted class "
                                "(red: most); top: correct test images, bottom: wrong ones"))


def ranking(run: ReportRun) -> Section:
    """A rank run's scores, and score against fine-tuned accuracy when ``--fit-top`` ran."""
    doc = run.doc
    if "candidates" not in doc:  # rank --sources
        rows = doc.get("rows") or doc.get("sources") or []
        if not rows:
            return Section("Ranking", missing="the ranking file holds no candidates")
        keys = [k for k in rows[0] if not k.startswith("_")]
        return Section("Ranking of sources", _table(keys, [[r.get(k, "") for k in keys]
                                                          for r in rows]))
    scores = sorted({s for c in doc["candidates"] for s in c["scores"]})
    table = _table(["candidate", *scores, "actual accuracy %"], [
        [c["name"], *(("n/a" if c["scores"].get(s) is None else f"{c['scores'][s]:.4g}")
                      for s in scores),
         f"{100 * doc['actual'][c['name']]['accuracy']:.2f}" if c["name"] in doc.get(
             "actual", {}) else "not fine-tuned"] for c in doc["candidates"]])
    parts = [table, f"<p><b>Protocol.</b> {html.escape(doc.get('protocol', ''))}</p>"]
    actual = doc.get("actual") or {}
    fitted = [c for c in doc["candidates"] if c["name"] in actual]
    if len(fitted) < 2:
        return Section("Ranking", "".join(parts) + "<p class='missing'>Score vs accuracy: "
                       "missing, fewer than two candidates were fine-tuned (run rank with "
                       "--fit-top N)</p>")
    score = "logme" if all(c["scores"].get("logme") is not None for c in fitted) else next(
        s for s in scores if all(c["scores"].get(s) is not None for c in fitted))
    parts.append(_plot("score-vs-accuracy", plots.score_vs_accuracy(
        [c["scores"][score] for c in fitted], [actual[c["name"]]["accuracy"] for c in fitted],
        [c["name"] for c in fitted], score)))
    return Section("Ranking", "".join(parts))


def trials(run: ReportRun) -> Section:
    """A tune run's optimisation history and parameter importances."""
    done = [t for t in run.doc.get("trials", []) if t.get("value") is not None]
    if not done:
        return Section("Trials", missing="no completed trial")
    values = [t["value"] for t in done]
    best = np.maximum.accumulate(values).tolist()
    parts = [_plot("history", plots.line_history(values, best, "trial", "validation score",
                                                 "optimisation history"))]
    importances = run.doc.get("importances")
    if importances:
        parts.append(_plot("importances", plots.horizontal_bars(
            list(importances), list(importances.values()), "importance (fANOVA)",
            "parameter importances")))
    else:
        parts.append("<p class='missing'>Parameter importances: missing, "
                     f"{html.escape(run.doc.get('importances_missing') or 'not computed')}</p>")
    best_trial = run.doc.get("best") or {}
    parts.append(_table(["trial", "state", "validation score", "parameters"],
                        [[t["number"], t.get("state", ""), f"{t['value']:.4f}"
                          if t.get("value") is not None else "-", _params(t.get("params", {}))]
                         for t in run.doc.get("trials", [])]))
    if best_trial:
        test = best_trial.get("test") or {}
        scored = ", ".join(f"{k} {format_metric(v, k)}" for k, v in test.items()
                           if isinstance(v, int | float) and k != "n")
        parts.append(f"<p><b>Best (chosen on validation).</b> trial {best_trial.get('number')}"
                     f", validation score {best_trial.get('value', float('nan')):.4f}: "
                     f"{html.escape(_params(best_trial.get('params', {})))}"
                     + (f"; on the test split, scored once: {html.escape(scored)}" if scored
                        else "") + "</p>")
    return Section("Trials", "".join(parts))


def _params(params: dict[str, Any]) -> str:
    """A trial's parameters as ``name=value`` pairs, numbers to 3 significant digits."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def flagged(run: ReportRun) -> Section:
    """An audit's most likely mislabelled examples, with pictures for images."""
    examples = run.doc.get("examples") or []
    if not examples:
        return Section("Likely mislabelled examples", missing="the audit flagged nothing")
    cells = []
    for e in examples:
        picture = (f'<img alt="example {e["index"]}" src="{html.escape(e["image"])}">'
                   if e.get("image") else
                   f"<q>{html.escape(str(e.get('text', e['input']))[:300])}</q>")
        cells.append(f"<div class='flag'>{picture}<br>#{e['index']}: given "
                     f"<b>{html.escape(str(e['given']))}</b>, suggested "
                     f"<b>{html.escape(str(e['suggested']))}</b> (score {e['score']:.2g})"
                     "</div>")
    n = run.doc.get("n_flagged", len(examples))
    return Section("Likely mislabelled examples",
                   f"<p>{n} of {run.doc.get('n_samples', '?')} training examples flagged; the "
                   f"{len(examples)} least likely labels (score: cleanlab's label quality, "
                   f"0 to 1):</p><div class='flags'>" + "".join(cells) + "</div>"
                   + (f"<p><b>Protocol.</b> {html.escape(run.doc['protocol'])}</p>"
                      if run.doc.get("protocol") else ""))


def run_sections(run: ReportRun, seed: int = 0) -> list[Section]:
    """The parts of the page for ``run``, by its kind."""
    if run.kind == "rank":
        return [ranking(run)]
    if run.kind == "tune":
        return [summary(run), trials(run)]
    if run.kind == "audit":
        return [flagged(run)]
    parts: list[Callable[[], Section]] = [
        lambda: summary(run), lambda: learning(run), lambda: errors(run),
        lambda: embedding(run, seed), lambda: cams(run)]
    if run.kind.startswith("adapt"):
        parts.append(lambda: by_domain(run, seed))
    return [part() for part in parts]


# ---------------------------------------------------------------- several runs, one page


def comparison(runs: Sequence[ReportRun]) -> Section:
    """The first row's primary metric of each run, side by side (several run dirs)."""
    rows, series = [], {}
    for run in runs:
        doc_rows = run.doc.get("rows", [])
        metric = next((m for m in PRIMARY_METRICS if doc_rows and m in doc_rows[0]["metrics"]),
                      None)
        if metric is None:
            rows.append([run.name, run.kind, "-", "-", "no comparable metric"])
            continue
        values = [r["metrics"][metric]["mean"] for r in doc_rows[:2]]
        series.setdefault(metric, {})[run.name] = values
        rows.append([run.name, run.kind, metric, *(format_metric(_pair(r["metrics"][metric]),
                                                                 metric) for r in doc_rows[:2])])
    html_parts = [_table(["run", "kind", "metric", "transfer (first row)",
                          "baseline (second row)"], [r + [""] * (5 - len(r)) for r in rows])]
    for metric, by_run in series.items():
        names = list(by_run)
        html_parts.append(_plot(f"compare-{metric}", plots.grouped_bars(
            names, {"transfer": [v[0] for v in by_run.values()],
                    "baseline": [v[1] if len(v) > 1 else np.nan for v in by_run.values()]},
            metric, f"{metric} by run")))
    return Section("Comparison of the runs", "".join(html_parts))


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.warning{background:#fff3cd;border:1px solid #e0b000;padding:.6em}
.missing{color:#8a6d3b;font-style:italic}.note{color:#666;font-size:.85em}
figure.plot{margin:.8em 0}figure.plot svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.85em}.flags{display:flex;flex-wrap:wrap;gap:.8em}
.flag{width:160px;font-size:.8em}.flag img{width:96px;image-rendering:pixelated}
h2{border-bottom:2px solid #ddd;margin-top:1.6em}
"""
# Records each plot's box and any script error on the page (read back by tests through
# the DOM): nothing is fetched, the page needs no network.
SCRIPT = """
window.addEventListener('error',function(e){var b=document.body;
b.dataset.errors=(b.dataset.errors||'')+e.message+';';});
window.addEventListener('load',function(){var boxes=[];
document.querySelectorAll('figure.plot').forEach(function(f){var r=f.getBoundingClientRect();
boxes.push({name:f.dataset.plot,x:r.left+scrollX,y:r.top+scrollY,w:r.width,h:r.height});});
document.body.dataset.plots=JSON.stringify(boxes);
document.body.dataset.height=document.documentElement.scrollHeight;});
"""


def render(runs: Sequence[ReportRun], seed: int = 0) -> str:
    """The HTML page of ``runs`` (one section per run, a comparison first when several)."""
    body = []
    if len(runs) > 1:
        body.append(_section_html(comparison(runs)))
    for run in runs:
        what = run.config.get("backbone", {})
        what = what.get("name", "") if isinstance(what, dict) else str(what)
        body.append(f"<h1>{html.escape(run.name)} <small>({html.escape(run.kind)}"
                    f"{', ' + html.escape(what) if what else ''})</small></h1>"
                    f"<p class='note'>{html.escape(str(run.path))}</p>")
        body.extend(_section_html(s) for s in run_sections(run, seed))
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>transferkit report</title><style>{STYLE}</style>"
            f"<script>{SCRIPT}</script></head><body>{''.join(body)}"
            f"<p class='note'>transferkit {__version__}, {stamp}. Nothing on this page was "
            "chosen on test labels: they are only scored.</p></body></html>")


def _section_html(section: Section) -> str:
    if section.missing is not None:
        return (f"<h2>{html.escape(section.title)}</h2><p class='missing'>Missing: "
                f"{html.escape(section.missing)}.</p>")
    return f"<h2>{html.escape(section.title)}</h2>{section.html}"


def build_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike,
                 seed: int = 0) -> Path:
    """Write the report of the run dirs ``paths`` to ``out`` (atomically).

    Parameters
    ----------
    paths
        One or more run dirs (fit, adapt, tune, rank, audit); several give a comparison.
    out
        The HTML file to write.
    seed
        Seeds the embedding and its subsample.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    TransferkitError
        One line for a path that is not a run (before anything is written).
    """
    runs = [read_run(p) for p in paths]
    page = render(runs, seed)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out)
