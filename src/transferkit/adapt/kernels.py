"""Kernels and their scalable approximations.

Dense ``n x n`` kernel matrices are only built while ``n <= max_exact`` (default 4000). Above
that, a rank-``m`` factor ``F (n, m)`` with ``F @ F.T ~= K`` is used instead: Nystroem
(landmark) features by default, or random Fourier features for the RBF kernel. Every
computation below works in row chunks so peak memory stays ``O(n * m)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from transferkit.errors import TransferkitError, check, check_int

KERNELS = ("linear", "rbf")
APPROXIMATIONS = ("auto", "exact", "nystroem", "rff")
_CHUNK = 4096


def one_blas_thread() -> threadpool_limits:
    """Context manager: LAPACK decompositions (eigh, svd) on a single BLAS thread.

    OpenBLAS' threaded tridiagonalisation/bidiagonalisation is slower than the serial one for
    the matrices used here (up to a few thousand rows) and, measured on a 2-core machine shared
    with other jobs, up to 50x slower when the cores are busy.
    """
    return threadpool_limits(limits=1, user_api="blas")


def symmetric_eig(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh`` (ascending eigenvalues) under :func:`one_blas_thread`."""
    with one_blas_thread():
        return np.linalg.eigh(A)


def check_kernel(kernel: str, approx: str = "auto") -> None:
    """Raise a one-line error for an unknown kernel or approximation name."""
    check(kernel in KERNELS, f"unknown kernel {kernel!r}", f"use one of {', '.join(KERNELS)}")
    check(approx in APPROXIMATIONS, f"unknown kernel approximation {approx!r}",
          f"use one of {', '.join(APPROXIMATIONS)}")


def squared_distances(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(n, m)`` between rows of ``X (n, d)`` and ``Y (m, d)``."""
    d2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * (X @ Y.T)
    return np.maximum(d2, 0.0, out=d2)


def kernel_matrix(X: np.ndarray, Y: np.ndarray, kernel: str = "rbf",
                  gamma: float | None = None) -> np.ndarray:
    """Dense kernel ``(n, m)``; ``rbf``: ``exp(-gamma * ||x - y||^2)``, ``linear``: ``x . y``."""
    check_kernel(kernel)
    out = np.empty((X.shape[0], Y.shape[0]))
    for i in range(0, X.shape[0], _CHUNK):
        block = X[i:i + _CHUNK]
        if kernel == "linear":
            out[i:i + _CHUNK] = block @ Y.T
        else:
            check(gamma is not None and gamma > 0, "rbf kernel needs gamma > 0",
                  "pass gamma=... or leave it None for the median heuristic")
            d2 = squared_distances(block, Y)
            out[i:i + _CHUNK] = np.exp(-gamma * d2, out=d2)
    return out


def median_gamma(X: np.ndarray, max_samples: int = 1000,
                 random_state: int | None = 0) -> float:
    """RBF ``gamma = 1 / median(||xi - xj||^2)`` over a subsample of ``X (n, d)``."""
    rng = np.random.default_rng(random_state)
    idx = rng.choice(X.shape[0], size=min(max_samples, X.shape[0]), replace=False)
    sub = X[idx]
    d2 = squared_distances(sub, sub)[np.triu_indices(len(sub), k=1)]
    d2 = d2[d2 > 0]
    if d2.size == 0:
        raise TransferkitError(
            "all samples are identical, so no RBF bandwidth can be derived from the data",
            "drop constant features/duplicate rows, or pass gamma=... explicitly",
        )
    return float(1.0 / np.median(d2))


def resolve_mode(kernel: str, approx: str, n: int, max_exact: int) -> str:
    """Which representation to use for ``n`` samples: linear, exact, nystroem or rff.

    The linear kernel is used in primal form (``linear``: the features themselves) unless
    ``approx`` asks for its dual: ``exact`` (the ``n x n`` Gram matrix) or ``nystroem``.
    ``exact`` is refused above ``max_exact`` samples (an ``n x n`` matrix)."""
    check_kernel(kernel, approx)
    if kernel == "linear" and approx in ("auto", "rff"):
        return "linear"
    if approx == "auto":
        return "exact" if n <= max_exact else "nystroem"
    check(approx != "exact" or n <= max_exact,
          f"approx='exact' needs a dense {n} x {n} kernel ({n * n * 8 / 2**30:.1f} GiB), above "
          f"max_exact={max_exact}", "use approx='auto' (Nystroem features above max_exact) or "
          "raise max_exact if the memory is there")
    return approx


def pooled_subsample(Xs: np.ndarray, Xt: np.ndarray, size: int,
                     random_state: int | None = 0) -> np.ndarray:
    """At most ``size`` rows drawn uniformly from ``[Xs; Xt]`` without stacking all of it."""
    n_s, n_t = Xs.shape[0], Xt.shape[0]
    if n_s + n_t <= size:
        return np.vstack([Xs, Xt])
    idx = np.sort(np.random.default_rng(random_state).choice(n_s + n_t, size, replace=False))
    return np.vstack([Xs[idx[idx < n_s]], Xt[idx[idx >= n_s] - n_s]])


def _inverse_sqrt_psd(K: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """``V diag(s^-1/2)`` for the eigenpairs of PSD ``K`` above ``rtol * s_max``; shape (m, r)."""
    s, V = symmetric_eig(K)
    keep = s > rtol * max(s.max(), 1e-300)
    return V[:, keep] / np.sqrt(s[keep])


class KernelFeatures:
    """Feature map whose rows are used in place of the kernel.

    ``mode_`` after :meth:`fit` on ``X (n, d)``:

    * ``linear``: identity, ``F = X``;
    * ``exact``: the empirical kernel map ``F = K(X, X_fit)`` (n, n) -- the classic dual form;
    * ``nystroem``: ``F = K(X, L) K(L, L)^-1/2`` (n, m) with ``m`` random landmarks ``L``;
    * ``rff``: random Fourier features (n, m) of the RBF kernel.

    ``approx='auto'`` picks ``exact`` while ``n <= max_exact`` and ``nystroem`` above.
    """

    def __init__(self, kernel: str = "rbf", gamma: float | None = None, approx: str = "auto",
                 max_exact: int = 4000, n_components: int = 500,
                 random_state: int | None = 0) -> None:
        check_kernel(kernel, approx)
        self.kernel = kernel
        self.gamma = gamma
        self.approx = approx
        self.max_exact = max_exact
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray, n_total: int | None = None) -> KernelFeatures:
        """Fit on ``X (n, d)``; ``n_total`` is the data size when ``X`` is only a subsample."""
        n = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.mode_ = resolve_mode(self.kernel, self.approx, n if n_total is None else n_total,
                                  self.max_exact)
        if self.mode_ in ("nystroem", "rff"):  # before the bandwidth: its sample needs some
            check_int("n_landmarks", self.n_components, 1, 500)
        check(self.mode_ != "exact" or n_total in (None, n),
              "the exact kernel map needs all samples at fit time")
        rng = np.random.default_rng(self.random_state)
        if self.kernel == "rbf":
            self.gamma_ = (float(self.gamma) if self.gamma is not None
                           else median_gamma(X, random_state=self.random_state))
        if self.mode_ == "exact":
            self.X_fit_ = X
        elif self.mode_ == "nystroem":
            m = min(self.n_components, n)
            self.landmarks_ = X[np.sort(rng.choice(n, size=m, replace=False))]
            K_ll = kernel_matrix(self.landmarks_, self.landmarks_, self.kernel,
                                 getattr(self, "gamma_", None))
            self.normalizer_ = _inverse_sqrt_psd(K_ll)
        elif self.mode_ == "rff":
            check(self.kernel == "rbf", "random Fourier features exist only for the rbf kernel",
                  "use approx='nystroem' for other kernels")
            d = X.shape[1]
            self.rff_weights_ = rng.normal(scale=np.sqrt(2 * self.gamma_),
                                           size=(d, self.n_components))
            self.rff_offset_ = rng.uniform(0, 2 * np.pi, size=self.n_components)
        return self

    @property
    def n_features_out(self) -> int:
        """Width of the feature map: ``d`` (linear), the fitted samples (exact), the landmarks
        (Nystroem) or the random features (RFF)."""
        return {
            "linear": lambda: self.n_features_in_,
            "exact": lambda: self.X_fit_.shape[0],
            "nystroem": lambda: self.normalizer_.shape[1],
            "rff": lambda: self.n_components,
        }[self.mode_]()

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Features ``(n, n_features_out)`` of ``X (n, d)``."""
        if self.mode_ == "linear":
            return X
        if self.mode_ == "exact":
            return kernel_matrix(X, self.X_fit_, self.kernel, getattr(self, "gamma_", None))
        out = np.empty((X.shape[0], self.n_features_out))
        for i in range(0, X.shape[0], _CHUNK):
            block = X[i:i + _CHUNK]
            if self.mode_ == "nystroem":
                k = kernel_matrix(block, self.landmarks_, self.kernel,
                                  getattr(self, "gamma_", None))
                out[i:i + _CHUNK] = k @ self.normalizer_
            else:
                proj = block @ self.rff_weights_ + self.rff_offset_
                out[i:i + _CHUNK] = np.sqrt(2.0 / self.n_components) * np.cos(proj)
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """:meth:`fit` on ``X (n, d)``, then its features ``(n, n_features_out)``."""
        return self.fit(X).transform(X)


class GramOperator:
    """Symmetric PSD matrix ``K + ridge * I`` (n, n) with ``K`` dense or a factor ``F (n, m)``,
    ``K = F F^T``; products cost ``O(n^2)`` or ``O(n m)`` and the n x n matrix is never formed
    from a factor."""

    def __init__(self, dense: np.ndarray | None = None, factor: np.ndarray | None = None,
                 ridge: float = 0.0):
        check((dense is None) != (factor is None), "GramOperator needs exactly one of dense/factor")
        self.dense = dense
        self.factor = factor
        self.ridge = ridge

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``, the matrix's shape."""
        n = (self.dense if self.dense is not None else self.factor).shape[0]
        return n, n

    def with_ridge(self, ridge: float) -> GramOperator:
        """The same matrix plus ``ridge * I`` (no copy of the data)."""
        return GramOperator(self.dense, self.factor, ridge)

    def mean_diagonal(self) -> float:
        """Mean of ``diag(K)`` (without the ridge)."""
        if self.dense is not None:
            return float(np.mean(np.diag(self.dense)))
        return float(np.mean(np.einsum("ij,ij->i", self.factor, self.factor)))

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``(K + ridge I) @ v``."""
        out = self.dense @ v if self.dense is not None else self.factor @ (self.factor.T @ v)
        return out + self.ridge * v if self.ridge else out

    def max_eigenvalue(self) -> float:
        """Largest eigenvalue (the Lipschitz constant of the quadratic form's gradient)."""
        if self.factor is not None:
            small = self.factor.T @ self.factor
            return float(symmetric_eig(small)[0][-1]) + self.ridge
        return float(_power_iteration(self.matvec, self.shape[0]))


def _power_iteration(matvec: Callable[[np.ndarray], np.ndarray], n: int,
                     n_iter: int = 100, seed: int = 0) -> float:
    v = np.random.default_rng(seed).normal(size=n)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        w = matvec(v)
        new = float(np.linalg.norm(w))
        if new == 0:
            return 0.0
        v = w / new
        if abs(new - lam) <= 1e-6 * new:
            return new * 1.01
        lam = new
    return lam * 1.01


def source_target_gram(Xs: np.ndarray, Xt: np.ndarray, kernel: str = "rbf",
                       gamma: float | None = None, approx: str = "auto", max_exact: int = 4000,
                       n_components: int = 500, random_state: int | None = 0,
                       ) -> tuple[GramOperator, np.ndarray, str]:
    """Source Gram operator ``K_ss`` and ``k_t = K_st @ 1 / nt`` (ns,), plus the mode used.

    ``k_t[i]`` is the mean kernel value between source sample ``i`` and the target samples
    (the empirical target mean embedding evaluated at ``xs_i``).
    """
    n = Xs.shape[0] + Xt.shape[0]
    mode = resolve_mode(kernel, approx, n, max_exact)
    if mode == "linear":  # K = X X^T is already low rank: never build it
        return GramOperator(factor=Xs), Xs @ Xt.mean(0), mode
    if gamma is None:
        gamma = median_gamma(pooled_subsample(Xs, Xt, 1000, random_state), 1000, random_state)
    if mode == "exact":
        K_ss = kernel_matrix(Xs, Xs, kernel, gamma)
        k_t = np.zeros(Xs.shape[0])
        for j in range(0, Xt.shape[0], _CHUNK):
            k_t += kernel_matrix(Xs, Xt[j:j + _CHUNK], kernel, gamma).sum(1)
        return GramOperator(dense=K_ss), k_t / Xt.shape[0], mode
    fmap = KernelFeatures(kernel, gamma, mode, max_exact, n_components, random_state)
    fmap.fit(pooled_subsample(Xs, Xt, 20 * n_components, random_state), n_total=n)
    Fs = fmap.transform(Xs)
    ft = np.zeros(fmap.n_features_out)
    for j in range(0, Xt.shape[0], _CHUNK):
        ft += fmap.transform(Xt[j:j + _CHUNK]).sum(0)
    return GramOperator(factor=Fs), Fs @ (ft / Xt.shape[0]), fmap.mode_
