"""GFK: geodesic flow kernel (Gong, Shi, Sha & Grauman, CVPR 2012).

The source and target PCA subspaces ``Ps, Pt (D, k)`` are joined by the geodesic on the
Grassmann manifold; ``G = int_0^1 Phi(t) Phi(t)^T dt (D, D)`` integrates the projections onto
every subspace along it, in closed form from the principal angles ``theta`` between ``Ps`` and
``Pt``. ``G`` has rank ``<= 2k``: it is ``B Lambda B^T`` with orthonormal ``B = [Ps U1, -R]
(D, 2k)`` (``R``: the target directions orthogonal to ``Ps``, normalised) and a ``2k x 2k``
block ``Lambda`` of per-angle 2x2 blocks, so the embedding ``x G^1/2`` is represented by its
coordinates ``x B Lambda^1/2 (2k,)`` -- the same inner products, without any ``D x D`` matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import FeatureAdapter, register
from transferkit.adapt.feature.sa import principal_axes
from transferkit.adapt.kernels import one_blas_thread, symmetric_eig
from transferkit.errors import check, check_int


def geodesic_flow_embedding(Ps: np.ndarray, Pt: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """``E (D, m)``, ``m <= 2k``, with ``E E^T = G`` the geodesic flow kernel of ``Ps, Pt``.

    ``Ps, Pt (D, k)`` have orthonormal columns. Angles with ``sin(theta) <= tol`` contribute
    only their source direction (their other terms vanish).
    """
    k = Ps.shape[1]
    with one_blas_thread():
        U1, cos, Vt = np.linalg.svd(Ps.T @ Pt)
    cos = np.clip(cos, 0.0, 1.0)
    theta = np.arccos(cos)
    R = Pt @ Vt.T - Ps @ (U1 * cos)              # target directions minus their source part
    sin = np.linalg.norm(R, axis=0)
    moving = np.nonzero(sin > tol)[0]
    t = np.maximum(theta, 1e-20)
    diag_s = 0.5 * (1 + np.sin(2 * t) / (2 * t))  # source-source term
    off = 0.5 * (np.cos(2 * t) - 1) / (2 * t)      # source-complement term
    diag_c = 0.5 * (1 - np.sin(2 * t) / (2 * t))   # complement-complement term
    B = np.hstack([Ps @ U1, -R[:, moving] / sin[moving]])
    lam = np.zeros((B.shape[1], B.shape[1]))
    lam[np.arange(k), np.arange(k)] = diag_s
    j = k + np.arange(moving.size)
    lam[moving, j] = lam[j, moving] = off[moving]
    lam[j, j] = diag_c[moving]
    s, V = symmetric_eig(lam)
    return B @ ((V * np.sqrt(np.clip(s, 0.0, None))) @ V.T)


def gfk_embedding(Xs: np.ndarray, Xt: np.ndarray, n_components: int) -> np.ndarray:
    """``E (D, m)`` of :func:`geodesic_flow_embedding` between the top-``n_components`` PCA
    subspaces of ``Xs (ns, D)`` and ``Xt (nt, D)``; samples map to ``X @ E``."""
    check_int("n_components", n_components, 1, 20)
    k = int(n_components)
    limit = min(Xs.shape[0] - 1, Xt.shape[0] - 1, Xs.shape[1] // 2)
    check(limit >= 1, f"GFK needs at least 2 features and 2 samples per domain, got "
          f"{Xs.shape[1]} features and {Xs.shape[0]}/{Xt.shape[0]} samples",
          "use another method on such small data")
    check(1 <= k <= limit,
          f"GFK n_components={k} but at most {limit} are possible (samples per domain - 1 and "
          "half the features)", f"use n_components <= {limit}")
    _, Ps = principal_axes(Xs, k)
    _, Pt = principal_axes(Xt, k)
    return geodesic_flow_embedding(Ps, Pt)


@register("gfk")
class GFK(FeatureAdapter):
    """Map both domains with ``G^1/2`` of the geodesic flow kernel; ``transform`` gives
    ``(n, m)`` coordinates (``m <= 2 * n_components``) whose inner products are ``x G y^T``.

    ``n_components`` is the subspace dimension ``d`` (20 in MEDA; at most half the features).
    """

    def __init__(self, estimator: Any = None, n_components: int = 20) -> None:
        self.estimator = estimator
        self.n_components = n_components

    def _fit_map(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        self.embedding_ = gfk_embedding(Xs, Xt, self.n_components)
        return Xs @ self.embedding_

    def _map(self, X: np.ndarray, domain: str) -> np.ndarray:
        return X @ self.embedding_
