"""Hand-made texture features for presentation attack detection: colour LBP histograms and a
frequency spectrum (used by the `pad` analyzer when its shipped model is a texture model, and by
training/pad/ to fit it).

- Colour LBP (after Boulkenafet, Komulainen and Hadid, "Face anti-spoofing based on color texture
  analysis", ICIP 2015): uniform LBP(8, 1) histograms of each channel of HSV and YCrCb; a printed
  and re-captured face has a narrower colour gamut and smoother micro-texture.
- Frequency: the grey crop's radially averaged log power spectrum, relative to its low band;
  printing and re-capture lose high frequencies.
"""

from __future__ import annotations

import cv2
import numpy as np

# the 8-neighbourhood at radius 1, clockwise from the right
OFFSETS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def _uniform_table() -> np.ndarray:
    """Code -> bin: the 58 uniform patterns (at most 2 transitions) get their own bin, the rest one."""
    table = np.full(256, 58, np.int64)
    k = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = k
            k += 1
    return table


UNIFORM = _uniform_table()


def lbp_histogram(channel: np.ndarray) -> np.ndarray:
    """Normalised 59-bin uniform LBP(8, 1) histogram of one 2-D channel."""
    c = channel.astype(np.int16)
    centre = c[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.int64)
    h, w = c.shape
    for bit, (dy, dx) in enumerate(OFFSETS):
        code |= (c[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] >= centre).astype(np.int64) << bit
    hist = np.bincount(UNIFORM[code].ravel(), minlength=59).astype(np.float64)
    return hist / hist.sum()


def colour_lbp(crop: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    return np.concatenate([lbp_histogram(img[:, :, k]) for img in (hsv, ycc) for k in range(3)])


def spectrum(crop: np.ndarray, bins: int = 16) -> np.ndarray:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    grey = (grey - grey.mean()) * np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey))) ** 2
    h, w = power.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
    edges = np.linspace(0, 1, bins + 1)
    radial = np.array([power[(r >= a) & (r < b)].mean() for a, b in zip(edges[:-1], edges[1:])])
    logp = np.log(radial + 1e-9)
    return logp - logp[:2].mean()


def features(crops: np.ndarray, kind: str) -> np.ndarray:
    """(N, D) features of (N, S, S, 3) RGB crops; kind: lbp | fft | lbp+fft."""
    parts = []
    if "lbp" in kind:
        parts.append(np.stack([colour_lbp(c) for c in crops]))
    if "fft" in kind:
        parts.append(np.stack([spectrum(c) for c in crops]))
    return np.concatenate(parts, axis=1)
