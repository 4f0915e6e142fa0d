"""MEDA: manifold embedded distribution alignment (Wang et al., ACM Multimedia 2018).

1. Manifold features: samples are mapped with the geodesic flow kernel (:mod:`.gfk`,
   ``n_components=20``) and L2-normalised.
2. A kernel classifier ``f(x) = phi(x) W`` (``phi``: features of the RBF kernel,
   ``K = Phi Phi^T``) minimises, with one-hot source labels ``Y``,

       ||Y - Phi_s W||^2 + eta ||W||^2 + lambda tr(W^T Phi^T M Phi W)
                                       + rho tr(W^T Phi^T L Phi W),

   ``M = (1 - mu) M_marginal + mu M_conditional`` the MMD matrix (*dynamic* distribution
   alignment: ``mu`` estimated each round from proxy A-distances) and ``L`` the normalised
   Laplacian of the cosine k-NN graph of all samples (manifold regularisation). The target
   pseudo-labels in ``M_conditional`` start from 1-NN and are refreshed for ``n_iter`` rounds.

The reference code solves the ``n x n`` dual system ``((E + lambda M + rho L) K + eta I) beta =
E Y``; with ``Phi = K^1/2`` the primal system above is the same problem (``f = K beta``) and
takes any kernel factor: the exact one up to ``max_exact`` samples, ``n_landmarks`` Nystroem
features above, so memory stays ``O(n * n_landmarks)``. ``M`` is never built (rank-one terms)
and ``L`` is sparse.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.svm import LinearSVC

from transferkit.adapt.base import BaseAdapter, register
from transferkit.adapt.feature.gfk import gfk_embedding
from transferkit.adapt.feature.tca import l2_normalise_rows, mmd_vectors
from transferkit.adapt.kernels import KernelFeatures, check_kernel
from transferkit.errors import check, is_finite_number
from transferkit.progress import Stages


def proxy_a_distance(Xa: np.ndarray, Xb: np.ndarray, max_samples: int = 2000) -> float:
    """``2 (1 - 2 err)`` of a linear SVM telling ``Xa`` from ``Xb`` (training error, as MEDA's
    reference code); 2 when a side is empty. Each side is subsampled (seeded) to at most
    ``max_samples`` rows so the cost does not grow with the data."""
    if len(Xa) == 0 or len(Xb) == 0:
        return 2.0
    rng = np.random.default_rng(0)
    Xa, Xb = (Z[np.sort(rng.choice(len(Z), max_samples, replace=False))]
              if len(Z) > max_samples else Z for Z in (Xa, Xb))
    X = np.vstack([Xa, Xb])
    d = np.r_[np.zeros(len(Xa)), np.ones(len(Xb))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm = LinearSVC(C=1.0, loss="hinge", max_iter=2000, random_state=0).fit(X, d)
        err = float(np.mean(svm.predict(X) != d))
    return 2.0 * (1.0 - 2.0 * err)


def balance_factor(Zs: np.ndarray, ys: np.ndarray, Zt: np.ndarray, yt: np.ndarray) -> float:
    """MEDA's ``mu = d_c / (d_c + d_m)`` in [0, 1] from the marginal A-distance ``d_m`` and the
    mean class-wise one ``d_c`` (target classes from pseudo-labels ``yt``)."""
    d_m = proxy_a_distance(Zs, Zt)
    d_c = float(np.mean([proxy_a_distance(Zs[ys == c], Zt[yt == c]) for c in np.unique(ys)]))
    total = d_c + d_m
    mu = 0.5 if total <= 0 else min(max(d_c / total, 0.0), 1.0)
    return 0.0 if mu <= 1e-3 else mu


def knn_laplacian(Z: np.ndarray, n_neighbors: int) -> sparse.csr_array:
    """Normalised Laplacian ``I - D^-1/2 W D^-1/2`` (n, n, sparse) of the cosine k-NN graph of
    unit rows ``Z (n, d)``: each sample joined to itself and its ``n_neighbors`` nearest, weight
    = cosine similarity, symmetrised by the maximum."""
    n = Z.shape[0]
    k = min(int(n_neighbors) + 1, n)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors(Z)
    sim = np.clip(1.0 - 0.5 * dist**2, 0.0, None)  # unit vectors: ||a - b||^2 = 2 - 2 cos
    W = sparse.csr_array((sim.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    W = W.maximum(W.T)
    inv_sqrt = 1.0 / np.sqrt(np.asarray(W.sum(axis=1)).ravel())
    S = sparse.diags_array(inv_sqrt) @ W @ sparse.diags_array(inv_sqrt)
    return sparse.eye_array(n, format="csr") - S


class _KernelScores:
    """The fitted classifier: ``classes_[argmax(phi(z) @ coef)]`` on normalised manifold
    features ``z``."""

    def __init__(self, features: KernelFeatures, coef: np.ndarray, classes: np.ndarray) -> None:
        self.features = features
        self.coef = coef
        self.classes_ = classes

    def decision_function(self, Z: np.ndarray) -> np.ndarray:
        return self.features.transform(l2_normalise_rows(Z, "the manifold features")) @ self.coef

    def predict(self, Z: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(Z).argmax(1)]


@register("meda")
class MEDA(BaseAdapter):
    """Manifold embedded distribution alignment; defaults are the paper's (``n_components=20,
    mmd_weight=10`` (lambda), ``manifold_weight=1`` (rho), ``ridge=0.1`` (eta), ``n_neighbors=10``
    (p), ``n_iter=10``, RBF kernel of width 1 on unit vectors (``gamma=0.5``)).

    ``mu='auto'`` estimates the marginal/conditional balance each round; a number fixes it.
    After fitting: ``transform(X)`` (manifold features), ``target_pseudo_labels_ (nt,)``,
    ``mu_history_`` and ``decision_function(X) (n, n_classes)``.
    """

    _fitted_estimator_type = _KernelScores  # its scores are not probabilities

    def __init__(self, n_components: int = 20, mmd_weight: float = 10.0,
                 manifold_weight: float = 1.0, ridge: float = 0.1, n_neighbors: int = 10,
                 n_iter: int = 10, mu: float | str = "auto", kernel: str = "rbf",
                 gamma: float = 0.5, max_exact: int = 4000, n_landmarks: int = 500,
                 random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.mmd_weight = mmd_weight
        self.manifold_weight = manifold_weight
        self.ridge = ridge
        self.n_neighbors = n_neighbors
        self.n_iter = n_iter
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.max_exact = max_exact
        self.n_landmarks = n_landmarks
        self.random_state = random_state

    def source_only_estimator(self) -> Any:
        """1-NN, the classifier that gives MEDA's initial pseudo-labels (no adaptation)."""
        return KNeighborsClassifier(n_neighbors=1)

    def _check_params(self) -> None:
        check_kernel(self.kernel)
        check(self.ridge > 0, f"ridge must be > 0, got {self.ridge}", "use ridge=0.1")
        check(self.mmd_weight >= 0 and self.manifold_weight >= 0,
              "mmd_weight and manifold_weight must be >= 0", "use the defaults 10 and 1")
        check(int(self.n_iter) >= 1, f"n_iter must be >= 1, got {self.n_iter}",
              "use n_iter=10")
        check((isinstance(self.mu, str) and self.mu == "auto")
              or (is_finite_number(self.mu) and 0 <= self.mu <= 1),
              f"mu must be 'auto' or in [0, 1], got {self.mu!r}", "use mu='auto'")

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        self._check_params()
        n_iter = int(self.n_iter)
        # the set-up (GFK, kernel factor, neighbour graph) can take as long as the rounds
        graph = self.manifold_weight > 0
        with Stages("MEDA", 3 + graph + n_iter) as progress:
            progress.start("GFK embedding")
            self.embedding_ = gfk_embedding(Xs, Xt, self.n_components)
            Zs, Zt = Xs @ self.embedding_, Xt @ self.embedding_
            ns, nt = len(Zs), len(Zt)
            U = l2_normalise_rows(np.vstack([Zs, Zt]), "the manifold features")
            n = ns + nt  # all samples as landmarks = the exact factor K^1/2
            progress.start("kernel features")
            fmap = KernelFeatures(self.kernel, self.gamma, "nystroem", self.max_exact,
                                  n if n <= self.max_exact else self.n_landmarks,
                                  self.random_state)
            Phi = fmap.fit(U).transform(U)                        # (n, p), Phi Phi^T ~= K
            Y = (ys[:, None] == self.classes_[None, :]).astype(np.float64)  # (ns, C) one-hot
            A = Phi[:ns].T @ Phi[:ns]
            A[np.diag_indices_from(A)] += float(self.ridge)
            if graph:
                progress.start("manifold graph")
                L = knn_laplacian(U, self.n_neighbors)
                A += float(self.manifold_weight) * (Phi.T @ (L @ Phi))
            rhs = Phi[:ns].T @ Y
            progress.start("1-NN pseudo-labels")
            pseudo = self.source_only_estimator().fit(U[:ns], ys).predict(U[ns:])
            self.mu_history_ = []
            for i in range(n_iter):
                progress.start(f"pseudo-label round {i + 1}/{n_iter}")
                mu = (balance_factor(Zs, ys, Zt, pseudo) if self.mu == "auto"
                      else float(self.mu))
                self.mu_history_.append(mu)
                P = mmd_vectors(ns, nt, ys, pseudo, mu) @ Phi        # (r, p)
                coef = np.linalg.solve(A + float(self.mmd_weight) * (P.T @ P), rhs)
                pseudo = self.classes_[(Phi[ns:] @ coef).argmax(1)]
        self.target_pseudo_labels_ = pseudo
        self.feature_map_ = fmap
        self.estimator_ = _KernelScores(fmap, coef, self.classes_)

    def _predict_input(self, X: np.ndarray, domain: str) -> np.ndarray:
        return X @ self.embedding_

    def transform(self, X: Any, domain: str = "target") -> np.ndarray:
        """Manifold (GFK) features ``(n, m)`` of ``X (n, d)``, ``m <= 2 * n_components``."""
        return self._predict_input(self._check_X(X, domain), domain)
