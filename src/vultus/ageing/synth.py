"""Synthetic ageing on a CPU: a craniofacial growth model that reshapes a face across ages, texture
ageing, and the filter that keeps only usable samples of the right person.

Shape: the cardioidal strain of Todd, Mark, Shaw & Pittenger (1980), in the frontal plane. Around
an origin O at brow level on the facial midline, a point at distance R and angle theta from the
upward vertical moves to R' = R (1 + k (1 - cos theta)): the cranium (theta ~ 0) barely moves, the
lower face and jaw (theta ~ pi) grow the most, which is how a child's face lengthens. k > 0 ages,
k < 0 rejuvenates. The amount is not guessed: `GROWTH` is the eye-to-chin / inter-pupil ratio of
FG-NET's 68 landmarks as a function of age (a saturating curve fitted by `fit_growth`), and k is
solved so the warped landmarks reach the target age's ratio. The whole image is warped densely
(closed-form inverse, `cv2.remap`), then rescaled about the eyes so the inter-pupil distance stays.

Texture: skin detail (image minus its edge-preserving smooth) scaled up with added years and down
when rejuvenating, inside the face's hull. A deliberately simple model: it adds no new wrinkles.

Filter: a sample is dropped when the detector finds no face, when its quality fails the enrollment
policy, or when its embedding is closer to another identity than to its own.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# FG-NET's own 68-point order (see shared/data/fgnet/README.md): jaw 0-14 (chin 7), pupils 31, 36
CHIN, PUPIL_A, PUPIL_B = 7, 31, 36
BROWS = slice(15, 27)


@dataclass(frozen=True)
class Growth:
    """Eye-to-chin over inter-pupil distance at age a: adult - (adult - newborn) * exp(-a / tau)."""

    newborn: float
    adult: float
    tau: float  # years

    def ratio(self, age: float) -> float:
        return self.adult - (self.adult - self.newborn) * float(np.exp(-max(age, 0.0) / self.tau))


# fit_growth on all 1,002 FG-NET landmark sets (population anthropometry, 3 numbers; see the model card)
GROWTH = Growth(newborn=1.528, adult=1.8108, tau=9.08)


def fit_growth(ages: np.ndarray, ratios: np.ndarray) -> Growth:
    """Least-squares fit of the saturating curve (grid over tau, linear in the other two)."""
    best = None
    for tau in np.arange(1.0, 30.0, 0.02):
        e = np.exp(-np.asarray(ages, float) / tau)
        x = np.column_stack([1 - e, e])  # ratio = adult (1 - e) + newborn e
        (adult, newborn), *_ = np.linalg.lstsq(x, ratios, rcond=None)
        err = float(np.sum((x @ [adult, newborn] - ratios) ** 2))
        if best is None or err < best[0]:
            best = (err, Growth(round(float(newborn), 4), round(float(adult), 4), round(float(tau), 2)))
    return best[1]


def face_ratio(landmarks: np.ndarray) -> float:
    eyes = (landmarks[PUPIL_A] + landmarks[PUPIL_B]) / 2
    return float(np.linalg.norm(landmarks[CHIN] - eyes) / np.linalg.norm(landmarks[PUPIL_A] - landmarks[PUPIL_B]))


def read_landmarks(csv_file: Path) -> dict[str, np.ndarray]:
    """FG-NET's landmarks68.csv: file name -> (68, 2) pixel coordinates in the stored image."""
    with open(csv_file, newline="") as fh:
        rows = list(csv.reader(fh))
    return {r[0]: np.array(r[5:], np.float64).reshape(68, 2) for r in rows[1:]}


@dataclass(frozen=True)
class Strain:
    """One cardioidal strain in image coordinates, followed by a rescale about the eye midpoint."""

    origin: np.ndarray
    up: np.ndarray  # unit vector pointing to the top of the head
    k: float
    eyes: np.ndarray
    scale: float

    def _radial(self, p: np.ndarray, k: float) -> np.ndarray:
        d = p - self.origin
        r = np.linalg.norm(d, axis=-1, keepdims=True)
        cos = (d @ self.up)[..., None] / np.maximum(r, 1e-9)
        return self.origin + d * (1 + k * (1 - cos))

    def forward(self, p: np.ndarray) -> np.ndarray:
        return self.eyes + self.scale * (self._radial(p, self.k) - self.eyes)

    def inverse(self, q: np.ndarray) -> np.ndarray:
        # the strain keeps angles about O, so R = R' / (1 + k (1 - cos theta)) with theta of the image point
        f = self.eyes + (q - self.eyes) / self.scale
        d = f - self.origin
        r = np.linalg.norm(d, axis=-1, keepdims=True)
        cos = (d @ self.up)[..., None] / np.maximum(r, 1e-9)
        return self.origin + d / (1 + self.k * (1 - cos))


def strain_for(landmarks: np.ndarray, age_from: float, age_to: float, growth: Growth = GROWTH) -> Strain:
    """The strain that takes this face's eye-to-chin ratio by the growth curve's change between ages."""
    a, b = landmarks[PUPIL_A], landmarks[PUPIL_B]
    eyes = (a + b) / 2
    down = landmarks[CHIN] - eyes
    up = -down / np.linalg.norm(down)
    origin = eyes + up * np.linalg.norm(landmarks[BROWS].mean(0) - eyes)  # brow level on the midline
    target = face_ratio(landmarks) * growth.ratio(age_to) / growth.ratio(age_from)

    def warped(k: float) -> tuple[np.ndarray, float]:
        pts = Strain(origin, up, k, eyes, 1.0).forward(landmarks)
        return pts, float(np.linalg.norm(pts[PUPIL_A] - pts[PUPIL_B]))

    lo, hi = -0.45, 0.9  # bisection: the ratio grows monotonically with k
    for _ in range(40):
        k = (lo + hi) / 2
        pts, iod = warped(k)
        if face_ratio(pts) < target:
            lo = k
        else:
            hi = k
    _, iod = warped(k)
    return Strain(origin, up, k, eyes, float(np.linalg.norm(a - b) / iod))


def warp_shape(image: np.ndarray, landmarks: np.ndarray, strain: Strain) -> tuple[np.ndarray, np.ndarray]:
    """The image and landmarks warped by `strain`; the warp fades out beyond the head so the
    background stays put."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    q = np.stack([xs, ys], axis=-1)
    src = strain.inverse(q)
    size = float(np.ptp(landmarks, axis=0).max())
    dist = np.linalg.norm(q - landmarks.mean(0), axis=-1, keepdims=True)
    fade = np.clip((1.6 * size - dist) / (0.8 * size), 0.0, 1.0)  # 1 on the head, 0 far away
    src = q + fade * (src - q)
    out = cv2.remap(image, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out, strain.forward(landmarks)


def age_texture(image: np.ndarray, landmarks: np.ndarray, age_from: float, age_to: float) -> np.ndarray:
    """Skin detail scaled by the change in years (more with age, less when rejuvenating), in the face hull."""
    gain = float(np.clip(1 + 0.02 * (age_to - age_from), 0.3, 1.8))
    img = image.astype(np.float32)
    base = cv2.bilateralFilter(img, 7, 20, 5)
    out = base + gain * (img - base)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(landmarks.astype(np.int32)), 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), max(2.0, 0.03 * float(np.ptp(landmarks[:, 0]))))[..., None]
    if image.ndim == 2:
        mask = mask[..., 0]
    return np.clip(mask * out + (1 - mask) * img, 0, 255).astype(np.uint8)


def age_face(image: np.ndarray, landmarks: np.ndarray, age_from: float, age_to: float,
             growth: Growth = GROWTH) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic image of this face at `age_to` (shape, then texture) and its landmarks."""
    warped, pts = warp_shape(image, landmarks, strain_for(landmarks, age_from, age_to, growth))
    return age_texture(warped, pts, age_from, age_to), pts


@dataclass(frozen=True)
class FilterResult:
    keep: bool
    reason: str  # "" when kept


def filter_sample(embedding: np.ndarray | None, quality_problems: list[str], own: np.ndarray,
                  others: np.ndarray) -> FilterResult:
    """Keep a synthetic sample only if it has a face of enrollment quality and its embedding is
    closer to its own identity's centroid `own` than to every other centroid (rows of `others`)."""
    if embedding is None:
        return FilterResult(False, "no face detected")
    if quality_problems:
        return FilterResult(False, "poor quality: " + "; ".join(quality_problems))
    mine = float(embedding @ own / np.linalg.norm(own))
    if len(others):
        theirs = others @ embedding / np.linalg.norm(others, axis=1)
        if float(theirs.max()) >= mine:
            return FilterResult(False, f"closer to another identity ({float(theirs.max()):.3f} >= {mine:.3f})")
    return FilterResult(True, "")
