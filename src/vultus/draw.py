"""Annotated images: boxes, landmarks and labels drawn on a copy of the image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .types import Face

KNOWN = (40, 180, 60)
UNKNOWN = (220, 60, 40)


def annotate(image: np.ndarray, faces: list[Face], labels: list[str] | None = None,
             colors: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Return an RGB copy of `image` with each face's box, 5 landmarks and label."""
    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 500))
    for i, f in enumerate(faces):
        color = colors[i] if colors else KNOWN
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        for x, y in f.landmarks:
            cv2.circle(out, (int(x), int(y)), thick + 1, (250, 220, 40), -1)
        label = labels[i] if labels else f"{f.score:.2f}"
        scale = 0.4 + 0.2 * thick
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(y1 - 4, th + 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, label, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return out


def save(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=90)
    return path
