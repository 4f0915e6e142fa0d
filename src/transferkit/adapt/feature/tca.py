"""TCA: transfer component analysis (Pan, Tsang, Kwok & Yang, IEEE TNN 2011).

The embedding solves the generalised eigenproblem of the paper,

    (F^T M F + reg I) w = eta F^T H F w,   keep the ``n_components`` smallest ``eta``,

on a feature matrix ``F (n, p)`` of the pooled samples ``[Xs; Xt]``: ``F = X`` for the linear
(primal) kernel, ``F = K`` for an exact kernel (the paper's dual form), or a Nystroem/random
Fourier factor above ``max_exact`` samples. ``M`` (the MMD matrix) is never built: it is a sum of
rank-one terms ``e e^T``, so ``F^T M F = sum (F^T e)(F^T e)^T`` costs ``O(n p)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.linalg import eigsh

from transferkit.adapt.base import FeatureAdapter, register
from transferkit.adapt.kernels import (
    KernelFeatures,
    check_kernel,
    pooled_subsample,
    resolve_mode,
    symmetric_eig,
)
from transferkit.errors import check, check_int

NORMALIZE_FIX = "drop all-zero samples or pass normalize=False"


def l2_normalise_rows(X: np.ndarray, name: str = "X",
                      fix: str = "drop all-zero samples") -> np.ndarray:
    """Rows of ``X (n, d)`` scaled to unit Euclidean norm; all-zero rows are an error."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = np.nonzero(norms[:, 0] == 0)[0]
    check(zero.size == 0, f"row {zero[0] if zero.size else 0} of {name} is all zeros and cannot "
          "be L2-normalised", fix)
    return X / norms


def _inverse_sqrt_identity_plus_low_rank(V: np.ndarray, reg: float) -> np.ndarray:
    """``(reg I + V V^T)^-1/2`` (p, p) for ``V (p, r)``, via the eigenpairs of the rank-r part."""
    Q, R = np.linalg.qr(V)
    lam, P = symmetric_eig(R @ R.T)
    U = Q @ P
    scale = 1.0 / np.sqrt(reg)
    out = (U * (1.0 / np.sqrt(reg + np.clip(lam, 0.0, None)) - scale)) @ U.T
    out[np.diag_indices_from(out)] += scale
    return out


def mmd_vectors(ns: int, nt: int, ys: np.ndarray, yt_pseudo: np.ndarray | None,
                mu: float = 0.5) -> np.ndarray:
    """Rows ``e_r (r, ns+nt)`` with ``M = sum_r e_r e_r^T`` scaled to unit Frobenius norm.

    Row 0 is the marginal term (weighted by the number of classes, as in the JDA reference
    code); with target pseudo-labels one row per class adds the class-conditional MMD (a class
    absent from the pseudo-labels keeps only its source part, also as in that code).
    ``M = (1 - mu) M_marginal + mu M_conditional`` (MEDA's balance; JDA's plain sum is
    ``mu=0.5`` after the normalisation).
    """
    classes = np.unique(ys)
    e0 = np.r_[np.full(ns, 1.0 / ns), np.full(nt, -1.0 / nt)] * np.sqrt(classes.size)
    marginal = 1.0 if yt_pseudo is None else 1.0 - mu
    rows = [e0 * np.sqrt(marginal)] if marginal > 0 else []
    if yt_pseudo is not None and mu > 0:
        for c in classes:
            e = np.zeros(ns + nt)
            src, tgt = ys == c, yt_pseudo == c
            e[:ns][src] = 1.0 / src.sum()
            if tgt.any():
                e[ns:][tgt] = -1.0 / tgt.sum()
            rows.append(e * np.sqrt(mu))
    E = np.asarray(rows)
    gram = E @ E.T
    return E / np.sqrt(np.sqrt((gram * gram).sum()))


@register("tca")
class TCA(FeatureAdapter):
    """Transfer component analysis; ``transform`` gives ``(n, n_components)`` embeddings.

    Defaults follow the protocol of the JDA paper's TCA column: primal (linear) kernel,
    ``n_components=100``, ``reg=1`` and L2-normalised samples and embeddings (``normalize``),
    classified by 1-NN. ``kernel='rbf'`` gives kernel TCA; above ``max_exact`` pooled samples it
    switches to ``n_landmarks`` Nystroem features so memory stays ``O(n * n_landmarks)``.
    ``kernel='linear', approx='exact'`` solves the dual form on the ``n x n`` Gram matrix
    (the regulariser then acts on sample coefficients, not on the projection).
    """

    def __init__(self, estimator: Any = None, n_components: int = 100, reg: float = 1.0,
                 kernel: str = "linear", gamma: float | None = None, approx: str = "auto",
                 max_exact: int = 4000, n_landmarks: int = 500, normalize: bool = True,
                 random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.n_components = n_components
        self.reg = reg
        self.kernel = kernel
        self.gamma = gamma
        self.approx = approx
        self.max_exact = max_exact
        self.n_landmarks = n_landmarks
        self.normalize = normalize
        self.random_state = random_state

    # -- shared with JDA ------------------------------------------------------------------
    def _prepare(self, X: np.ndarray, name: str) -> np.ndarray:
        return l2_normalise_rows(X, name, NORMALIZE_FIX) if self.normalize else X

    def _fit_features(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        """Feature matrix ``F (ns + nt, p)`` of the pooled training samples."""
        check_kernel(self.kernel, self.approx)
        check(self.reg > 0, f"reg must be > 0, got {self.reg}", "use e.g. reg=1.0")
        Xs = self._prepare(Xs, "Xs")
        Xt = self._prepare(Xt, "Xt")
        n = Xs.shape[0] + Xt.shape[0]
        fmap = KernelFeatures(self.kernel, self.gamma, self.approx, self.max_exact,
                              self.n_landmarks, self.random_state)
        if resolve_mode(self.kernel, self.approx, n, self.max_exact) == "exact":
            X = np.vstack([Xs, Xt])
            F = fmap.fit(X).transform(X)
        else:
            fmap.fit(pooled_subsample(Xs, Xt, 20 * self.n_landmarks, self.random_state),
                     n_total=n)
            F = np.empty((n, fmap.n_features_out))
            F[: Xs.shape[0]] = fmap.transform(Xs)
            F[Xs.shape[0]:] = fmap.transform(Xt)
        self.feature_map_ = fmap
        check_int("n_components", self.n_components, 1, 20)
        k = int(self.n_components)
        limit = min(F.shape[1], n - 1)
        check(1 <= k <= limit,
              f"{type(self).__name__} n_components={k} but only {limit} are possible with "
              f"{n} samples and {F.shape[1]} kernel features", f"use n_components <= {limit}")
        return F

    def _solve(self, F: np.ndarray, E: np.ndarray) -> np.ndarray:
        """Projection ``W (p, n_components)``: smallest eigenvalues of the TCA problem.

        ``A = F^T M F + reg I`` is identity plus rank ``r``, so ``A^-1/2`` is exact and cheap;
        the problem becomes the ordinary symmetric one ``A^-1/2 B A^-1/2 u = (1/eta) u``.
        """
        A_inv_sqrt = _inverse_sqrt_identity_plus_low_rank(F.T @ E.T, float(self.reg))
        mean = F.mean(0)
        B = F.T @ F - F.shape[0] * np.outer(mean, mean)
        C = A_inv_sqrt @ B @ A_inv_sqrt
        p, k = C.shape[0], int(self.n_components)
        if p > 1500 and k < p // 4:
            v0 = np.random.default_rng(0).normal(size=p)
            _, U = eigsh(C, k=k, which="LA", v0=v0)
        else:
            _, U = symmetric_eig(C)
        W = A_inv_sqrt @ U[:, ::-1][:, :k] if U.shape[1] > k else A_inv_sqrt @ U[:, ::-1]
        return W / np.linalg.norm(W, axis=0)

    def _embed(self, Z: np.ndarray) -> np.ndarray:
        return l2_normalise_rows(Z, "the embedding", NORMALIZE_FIX) if self.normalize else Z

    # -- FeatureAdapter hooks ---------------------------------------------------------------
    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        F = self._fit_features(Xs, Xt)
        ns = Xs.shape[0]
        self.components_ = self._solve(F, mmd_vectors(ns, Xt.shape[0], ys, None))
        return self._embed(F[:ns] @ self.components_)

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        F = self.feature_map_.transform(self._prepare(X, "X"))
        return self._embed(F @ self.components_)
