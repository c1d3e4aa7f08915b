"""The age adapter: a linear map A on one embedder's unit vectors, x -> normalize(A x), fitted to
shrink the within-person variation that comes with ageing (NumPy only).

Two families, both from the scatter of cross-age differences S = mean (x_i - x_j)(x_i - x_j)^T over
pairs of one training person at least `MIN_GAP` years apart (synthetic samples count at their
target age):
- "wccn":  A = (S / mean eigenvalue + lam I)^(-1/2)   within-class covariance normalization, shrunk
            toward the identity by lam (large lam = no change);
- "nap":   A = I - U_k U_k^T                          nuisance attribute projection: drop the k
            directions along which one person's embedding moves most with age.
The family and its parameter are chosen by inner cross-validation on the training identities only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_GAP = 3.0
GRID: tuple[tuple[str, float], ...] = (
    *(("wccn", lam) for lam in (0.1, 0.3, 1.0, 3.0, 10.0)),
    *(("nap", k) for k in (2, 4, 8, 16, 32)),
)


@dataclass(frozen=True)
class Adapter:
    family: str
    param: float
    matrix: np.ndarray  # (d, d); apply as x @ matrix.T

    def apply(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, np.float64) @ self.matrix.T
        return (y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def cross_age_scatter(x: np.ndarray, person: np.ndarray, age: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    s, n = np.zeros((d, d)), 0
    for p in np.unique(person):
        idx = np.flatnonzero(person == p)
        i, j = np.triu_indices(len(idx), 1)
        keep = np.abs(age[idx[i]] - age[idx[j]]) >= MIN_GAP
        diff = x[idx[i[keep]]] - x[idx[j[keep]]]
        s += diff.T @ diff
        n += len(diff)
    return s / max(2 * n, 1)


def fit(x: np.ndarray, person: np.ndarray, age: np.ndarray, family: str, param: float) -> Adapter:
    s = cross_age_scatter(np.asarray(x, np.float64), person, age)
    vals, vecs = np.linalg.eigh(s)
    if family == "wccn":
        vals = vals / max(vals.mean(), 1e-12)
        m = vecs @ np.diag(1 / np.sqrt(np.maximum(vals, 0) + param)) @ vecs.T
        return Adapter(family, param, m * np.sqrt(1 + param))  # scale does not matter after normalizing
    if family == "nap":
        u = vecs[:, ::-1][:, :int(param)]
        return Adapter(family, param, np.eye(len(s)) - u @ u.T)
    raise ValueError(f"unknown adapter family {family!r}")
