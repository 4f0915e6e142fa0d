"""Loaders for the public domain-adaptation feature benchmarks (optional, never needed to run).

Each loader takes the folder that holds the data (``../shared/data`` in this project) and applies
the preprocessing the published numbers assume:

* Office-Caltech10 SURF: row-sum normalise, then z-score each domain (ddof=0);
* MNIST/USPS (JDA release, samples stored as columns): per-sample L2 normalisation;
* Amazon reviews 400-d: z-score each domain.

``published_*`` read the published tables in ``<root>/published``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transferkit.errors import TransferkitError, check

SURF_DOMAINS = {"C": "Caltech10", "A": "amazon", "W": "webcam", "D": "dslr"}
SURF_TASKS = ["CA", "CW", "CD", "AC", "AW", "AD", "WC", "WA", "WD", "DC", "DA", "DW"]
AMAZON_DOMAINS = {"B": "books", "D": "dvd", "E": "elec", "K": "kitchen"}
AMAZON_TASKS = ["BD", "BE", "BK", "DB", "DE", "DK", "EB", "ED", "EK", "KB", "KD", "KE"]


def zscore(X: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Columns of ``X (n, d)`` standardised with the mean/std (ddof=0) of ``reference``
    (default ``X`` itself); columns constant in the reference are only centred."""
    ref = X if reference is None else reference
    std = ref.std(0)
    return (X - ref.mean(0)) / np.where(std > 0, std, 1.0)


def rowsum_zscore(X: np.ndarray) -> np.ndarray:
    """Rows divided by their sum, then :func:`zscore` (the SURF protocol)."""
    X = np.asarray(X, dtype=np.float64)
    return zscore(X / X.sum(1, keepdims=True))


def l2_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X (n, d)`` scaled to unit L2 norm."""
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    if not path.exists():
        raise TransferkitError(f"benchmark file not found: {path}",
                               "point root= at the folder that holds the shared data")
    return loadmat(str(path))


def _domain(name: str, table: dict[str, str]) -> str:
    key = name[:1].upper() if name not in table.values() else name
    full = table.get(key, name)
    check(full in table.values(), f"unknown domain {name!r}",
          f"use one of {', '.join(table)} or {', '.join(table.values())}")
    return full


def load_surf(root: str | Path, domain: str) -> tuple[np.ndarray, np.ndarray]:
    """Office-Caltech10 SURF domain (C, A, W or D): ``X (n, 800)`` preprocessed, ``y (n,)``."""
    full = _domain(domain, SURF_DOMAINS)
    data = _loadmat(Path(root) / "office_caltech10_surf_gfk_original" / f"{full}_SURF_L10.mat")
    return rowsum_zscore(data["fts"]), data["labels"].ravel().astype(int)


def load_mnist_usps(root: str | Path, source: str = "MNIST"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """JDA digits task ``source -> other``: ``Xs, ys, Xt, yt`` with L2-normalised samples."""
    check(source.upper() in ("MNIST", "USPS"), f"unknown digit source {source!r}",
          "use 'MNIST' or 'USPS'")
    name = "MNIST_vs_USPS.mat" if source.upper() == "MNIST" else "USPS_vs_MNIST.mat"
    data = _loadmat(Path(root) / "mnist_usps_jda" / name)
    return (l2_rows(data["X_src"].T.astype(np.float64)), data["Y_src"].ravel().astype(int),
            l2_rows(data["X_tar"].T.astype(np.float64)), data["Y_tar"].ravel().astype(int))


def load_amazon(root: str | Path, domain: str) -> tuple[np.ndarray, np.ndarray]:
    """Amazon reviews domain (B, D, E or K): ``X (n, 400)`` z-scored, ``y (n,)`` in {0, 1}."""
    full = _domain(domain, AMAZON_DOMAINS)
    data = _loadmat(Path(root) / "amazon_review_400" / f"{full}_400.mat")
    return zscore(data["fts"].astype(np.float64)), data["labels"].ravel().astype(int)


# --------------------------------------------------------------------------- published numbers


def _published_text(path: Path) -> str:
    if not path.exists():
        raise TransferkitError(f"published table not found: {path}",
                               "point root= at the folder that holds the shared data")
    return path.read_text()


def _csv_rows(path: Path) -> list[list[str]]:
    lines = [ln.strip() for ln in _published_text(path).splitlines()]
    return [ln.split(",") for ln in lines if ln and not ln.startswith("#")]


def _task_key(task: str) -> str:
    """'A->C' / 'A,C' -> 'AC'; digit names are kept, e.g. 'MNIST->USPS'."""
    parts = task.replace("->", ",").split(",")
    if all(len(p) == 1 for p in parts):
        return "".join(parts)
    return "->".join(parts)


def published_jda(root: str | Path) -> dict[str, dict[str, float]]:
    """JDA paper table: ``{'CA': {'NN': 23.70, ..., 'JDA': 44.78}, 'MNIST->USPS': {...}}``."""
    rows = _csv_rows(Path(root) / "published" / "jda_iccv2013_table.csv")
    header, out = rows[0], {}
    for row in rows[1:]:
        out[_task_key(f"{row[1]},{row[2]}")] = {
            h: float(v) for h, v in zip(header[3:], row[3:], strict=True)}
    return out


def published_coral(root: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """CORAL paper tables: ``{'T3': {'AC': {'NA': 41.7, ..., 'CORAL': 45.1}, ...}, ...}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    header: list[str] = []
    for row in _csv_rows(Path(root) / "published" / "coral_aaai2016_tables.csv"):
        if row[0] == "table":
            header = row
            continue
        out.setdefault(row[0], {})[_task_key(row[1])] = {
            h: float(v) for h, v in zip(header[2:], row[2:], strict=True)}
    return out


def published_easytl(root: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """EasyTL Python-port results: ``{'amazon': {'BD': {'EasyTL': 79.8, ...}}, 'surf': ...}``."""
    rows = _csv_rows(Path(root) / "published" / "easytl_python_port_results.csv")
    header, out = rows[0], {}
    for row in rows[1:]:
        out.setdefault(row[0], {})[_task_key(row[1])] = {
            h: float(v) for h, v in zip(header[2:], row[2:], strict=True)}
    return out


def published_benchmark(root: str | Path) -> dict[str, dict[str, float]]:
    """SURF table of the jindongwang/transferlearning benchmark: ``{'MEDA': {'CA': 56.5, ...}}``
    (methods 1NN, SVM, PCA, TCA, GFK, JDA, CORAL, SCA, JGSA, MEDA)."""
    path = Path(root) / "published" / "jindongwang_transferlearning_benchmark.md"
    lines = _published_text(path).splitlines()
    start = lines.index("#### SURF")
    out: dict[str, dict[str, float]] = {}
    tasks: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("#") or line.startswith("- - -"):
            break
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set(cells[0]) <= {"-"}:
            continue
        if cells[0] == "Task":
            tasks = [c.replace(" - ", "") for c in cells[1:-1]]
            continue
        name = cells[0].split("[")[0]
        out[name] = dict(zip(tasks, map(float, cells[1:-1]), strict=True))
    return out
