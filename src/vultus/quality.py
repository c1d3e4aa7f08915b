"""Face quality: cheap measurements that predict whether a face is worth recognizing or enrolling."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .types import Face, Quality


def assess(face: Face, aligned_112: np.ndarray) -> Quality:
    """Measure a face from its landmarks and its 112 px aligned crop."""
    lm = face.landmarks
    eye_l, eye_r, nose = lm[0], lm[1], lm[2]
    iod = float(np.linalg.norm(eye_r - eye_l))
    eye_mid = (eye_l + eye_r) / 2
    # yaw proxy: how far the nose sits from the eye midpoint, along the eye line, in half-IODs
    direction = (eye_r - eye_l) / max(iod, 1e-6)
    yaw = float(np.clip(np.dot(nose - eye_mid, direction) / max(iod / 2, 1e-6), -1, 1))
    roll = float(np.degrees(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])))
    grey = cv2.cvtColor(aligned_112, cv2.COLOR_RGB2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return Quality(face_size=iod, sharpness=sharpness, yaw=yaw, roll=roll, score=face.score)


@dataclass(frozen=True)
class QualityPolicy:
    """Limits for enrollment. The defaults refuse faces that measurably hurt recognition:
    tiny faces, strong blur, strong profile views and weak detections."""

    min_face_size: float = 24.0  # inter-ocular pixels
    min_sharpness: float = 20.0
    max_abs_yaw: float = 0.6
    max_abs_roll: float = 35.0
    min_score: float = 0.7

    def problems(self, q: Quality) -> list[str]:
        out = []
        if q.face_size < self.min_face_size:
            out.append(f"face too small: eyes {q.face_size:.0f} px apart, need {self.min_face_size:.0f}")
        if q.sharpness < self.min_sharpness:
            out.append(f"too blurry: sharpness {q.sharpness:.0f}, need {self.min_sharpness:.0f}")
        if abs(q.yaw) > self.max_abs_yaw:
            out.append(f"head turned too far: yaw {q.yaw:+.2f}, limit ±{self.max_abs_yaw}")
        if abs(q.roll) > self.max_abs_roll:
            out.append(f"head tilted too far: roll {q.roll:+.0f}°, limit ±{self.max_abs_roll:.0f}°")
        if q.score < self.min_score:
            out.append(f"uncertain detection: score {q.score:.2f}, need {self.min_score}")
        return out
