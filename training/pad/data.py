"""NUAA raw frames -> face crops with labels, subjects and a subject-disjoint split.

The shared copy holds 342 raw 640x480 frames of 16 subjects (`../shared/data/nuaa/README.md`):
144 genuine (label 0 there) and 198 printed-photo attacks (label 1). The official train/test lists
are split by session, not by person (subjects 0004, 0006, 0007 are in both), so we make our own
subject-disjoint split: no person's face is in two of train / validation / test.

The split is drawn once with a fixed seed, under one rule: validation and test each hold genuine
and attack images. It is written to `training/pad/split.json` and never re-drawn after results
are seen. Faces are found by vultus's own default detector (YuNet), exactly as at run time; a
frame where no face is found is reported (an ISO/IEC 30107-3 non-response), not silently dropped.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data")) / "nuaa"
SPLIT_FILE = Path(__file__).with_name("split.json")
CACHE = ROOT / "bench" / "results" / "pad"
SEED = 20101005
SPLIT_SIZES = {"train": 9, "val": 3, "test": 4}  # subjects per part (16 in all)


@dataclass(frozen=True)
class Item:
    path: Path
    live: bool  # genuine (bona fide) presentation
    subject: str
    session: str


def items(root: Path = DATA) -> list[Item]:
    if not (root / "index.csv").is_file():
        raise FileNotFoundError(f"NUAA not found at {root} (set VULTUS_DATA to the shared data folder)")
    with open(root / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [Item(root / r["path"], r["label"] == "0", r["subject"], r["session"]) for r in rows]


def make_split(all_items: list[Item]) -> dict[str, list[str]]:
    """Subjects per part, drawn with a fixed seed until validation and test hold both classes."""
    subjects = sorted({i.subject for i in all_items})
    classes = {s: {i.live for i in all_items if i.subject == s} for s in subjects}
    rng = np.random.default_rng(SEED)
    for _ in range(1000):
        order = [subjects[k] for k in rng.permutation(len(subjects))]
        parts, start = {}, 0
        for name, n in SPLIT_SIZES.items():
            parts[name] = sorted(order[start:start + n])
            start += n
        if all(set().union(*(classes[s] for s in parts[p])) == {True, False} for p in parts):
            return parts
    raise RuntimeError("no split with both classes in every part")


def split() -> dict[str, list[str]]:
    """The fixed split (made and written on first use)."""
    if SPLIT_FILE.is_file():
        return json.loads(SPLIT_FILE.read_text())
    parts = make_split(items())
    SPLIT_FILE.write_text(json.dumps(parts, indent=1) + "\n")
    return parts


def detections(all_items: list[Item]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """(box, landmarks) of the largest face per frame, or None; cached under bench/results/pad."""
    cache = CACHE / "detections.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if len(saved) == len(all_items):
            return [None if s is None else (np.array(s[0], np.float32), np.array(s[1], np.float32)) for s in saved]
    from vultus.pipeline import Pipeline

    pipe = Pipeline()
    out = []
    for it in all_items:
        faces = pipe.detect(it.path)
        if not faces:
            out.append(None)
            continue
        f = max(faces, key=lambda f: f.width * f.height)
        out.append((f.box, f.landmarks))
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([None if o is None else [o[0].tolist(), o[1].tolist()] for o in out]))
    return out


@dataclass
class Crops:
    """Face crops of one part of the split, (N, size, size, 3) RGB uint8, with labels."""

    images: np.ndarray
    live: np.ndarray  # bool
    subjects: np.ndarray  # str
    paths: list[str]
    missed: list[str]  # frames of this part with no face found


def crops(part: str, size: int, scale: float, copies: int = 1, jitter: float = 0.0, seed: int = 0,
          subjects: list[str] | None = None) -> Crops:
    return _crops(part, size, scale, copies, jitter, seed, tuple(subjects) if subjects is not None else None)


@functools.lru_cache(maxsize=64)
def _crops(part: str, size: int, scale: float, copies: int, jitter: float, seed: int,
           subjects: tuple[str, ...] | None) -> Crops:
    """Crops of the frames of `part` (or of the given `subjects`). With `copies` > 1, each frame gives
    that many crops whose box is moved and resized by up to `jitter` (the detector's own wobble),
    to augment training data."""
    from vultus.io import load_image
    from vultus.models.analyze.pad import face_crop
    from vultus.types import Face

    all_items = items()
    dets = detections(all_items)
    wanted = set(subjects if subjects is not None else split()[part])
    rng = np.random.default_rng(seed)
    imgs, live, subj, paths, missed = [], [], [], [], []
    for it, det in zip(all_items, dets):
        if it.subject not in wanted:
            continue
        if det is None:
            missed.append(str(it.path.relative_to(DATA)))
            continue
        image = load_image(it.path)
        for _ in range(copies):
            box = det[0]
            if jitter:
                side = max(box[2] - box[0], box[3] - box[1])
                shift = rng.uniform(-jitter, jitter, 2) * side / 2
                grow = rng.uniform(1 - jitter, 1 + jitter)
                centre = (box[:2] + box[2:]) / 2 + shift
                half = (box[2:] - box[:2]) / 2 * grow
                box = np.r_[centre - half, centre + half].astype(np.float32)
            imgs.append(face_crop(image, Face(box=box, score=1.0, landmarks=det[1]), size, scale))
            live.append(it.live)
            subj.append(it.subject)
            paths.append(str(it.path.relative_to(DATA)))
    return Crops(np.stack(imgs), np.array(live), np.array(subj), paths, missed)
