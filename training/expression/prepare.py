"""Aligned crops and frozen SFace features for every FER2013 and CK+48 image (no PyTorch here).

Each 48x48 image is upscaled 3x (with a replicated border) for YuNet, whose 5 landmarks align it
to the FER template (`vultus.models.analyze._fer_crops`); where YuNet finds no face (about 4 %
of FER2013) the template itself is used, i.e. the crop is kept as it is. SFace then runs on the
crops, truncated in memory, and gives three features per image: the 128-d embedding (`fc1`), the
last feature map (`conv_14_relu`, 1024x7x7) and a middle one (`conv_12_relu`, 512x14x14, 2x2
average-pooled to 7x7). Written to bench/results/expression/<set>.npz (float16).

    nice -n 10 python training/expression/prepare.py [--flip]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "results" / "expression"
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data"))
SFACE_MAPS = ("conv_14_relu", "conv_12_relu")
SETS = ("PublicTest", "PrivateTest", "ckplus48", "Training")


def load(name: str):
    from vultus.eval.expression import load_ckplus48, load_fer2013

    if name == "ckplus48":
        return load_ckplus48(DATA / "ckplus48", contempt=True)
    return load_fer2013(DATA / "fer2013", name)


def align_all(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from vultus.models import registry
    from vultus.models.analyze._fer_crops import FER_TEMPLATE, expression_crop

    det = registry.create("yunet", "detector", scales=(1.0,), score_threshold=0.3)
    crops, found = np.empty_like(images), np.zeros(len(images), bool)
    for i, g in enumerate(images):
        big = cv2.copyMakeBorder(cv2.resize(g, (144, 144), interpolation=cv2.INTER_CUBIC), 40, 40, 40, 40,
                                 cv2.BORDER_REPLICATE)
        faces = det.detect(np.repeat(big[:, :, None], 3, 2))
        if faces:  # the most central face (a crop may show a second one at its edge)
            f = min(faces, key=lambda f: np.abs((f.box[:2] + f.box[2:]) / 2 - 112).sum())
            crops[i], found[i] = expression_crop(g, (f.landmarks - 40) / 3), True
        else:
            crops[i] = expression_crop(g, FER_TEMPLATE)
    return crops, found


def sface_features(crops: np.ndarray, size: int, batch: int = 32) -> dict[str, np.ndarray]:
    from vultus.models import registry
    from vultus.models.analyze._fer_crops import sface_input
    from vultus.runtime import open_session

    names = SFACE_MAPS + (("fc1",) if size == 112 else ())  # the embedding needs the 7x7 map
    session = open_session(registry.get("sface").weights_path(), dynamic_batch=True, dynamic_size=True,
                           outputs=names)
    parts: dict[str, list] = {k: [] for k in names}
    for s in range(0, len(crops), batch):
        out = dict(zip(names, session.run([sface_input(crops[s:s + batch], size)])))
        if size == 112:
            n, c, h, w = out["conv_12_relu"].shape
            out["conv_12_relu"] = out["conv_12_relu"].reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
            out["fc1"] = out["fc1"].reshape(n, -1)
        for k in names:
            parts[k].append(out[k].astype(np.float16))
    return {k: np.concatenate(v) for k, v in parts.items()}


def run(sets, size: int = 64, flip: bool = False, crops_only: bool = False, align: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sets:
        path, crops_path = OUT / f"{name}_s{size}.npz", OUT / f"{name}_crops.npz"
        if not crops_path.exists():
            t = time.time()
            ds = load(name)
            crops, found = align_all(ds.images) if align else (ds.images, np.zeros(len(ds), bool))
            np.savez(crops_path, crops=crops, found=found, labels=ds.labels, groups=ds.groups)
            print(f"{name}: {len(crops)} crops, YuNet aligned {found.mean():.1%} ({time.time() - t:.0f} s)", flush=True)
        if crops_only:
            continue
        if not path.exists():
            t = time.time()
            d = dict(np.load(crops_path))
            np.savez(path, labels=d["labels"], **sface_features(d["crops"], size))
            print(f"{name}: features in {time.time() - t:.0f} s", flush=True)
        flip_path = OUT / f"Training_flip_s{size}.npz"
        if name == "Training" and flip and not flip_path.exists():
            d = np.load(crops_path)
            flipped = np.ascontiguousarray(d["crops"][:, :, ::-1])
            np.savez(flip_path, labels=d["labels"], **sface_features(flipped, size))
            print("Training_flip: done", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--flip", action="store_true", help="also the mirrored Training crops (augmentation)")
    ap.add_argument("--crops-only", action="store_true", help="crops only (the appearance CNN needs no more)")
    ap.add_argument("--align", action="store_true", help="re-align every image with YuNet's landmarks")
    ap.add_argument("--size", type=int, default=64, help="SFace input side (a multiple of 16)")
    args = ap.parse_args()
    run(args.sets.split(","), args.size, args.flip, args.crops_only, args.align)


if __name__ == "__main__":
    sys.exit(main())
