"""Train the expression model's parts on FER2013 Training, choose on PublicTest, export ONNX.

    make train-expression                                  # all of it: python -m training.expression.train
    python -m training.expression.prepare --size 64 --flip # frozen SFace features (cached)
    python -m training.expression.train --part last        # one part: emb | mid | last | cnn | eyes
    python -m training.expression.train --ship last,mid    # fuse, calibrate, export the model

Each part is trained on Training only; the epoch kept is the one with the best PublicTest accuracy.
Shipping picks the parts (every combination of the trained face parts), their fusion weights (a
grid), the softmax temperature and the emotion fusion's eye weight on PublicTest, and writes
src/vultus/weights/expression.onnx (its SHA-256 goes into the spec), shipped.json and shipped.pt
(the PyTorch state the ONNX file was exported from, for the agreement test). PrivateTest and CK+48
are never read here: bench/expression.py measures them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.common.export import export_onnx

from .model import AppearanceCNN, EmbeddingHead, MapHead, Shipped

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "bench" / "results" / "expression"
PARTS = CACHE / "parts"
SHIPPED = ROOT / "src" / "vultus" / "weights" / "expression.onnx"
#: part -> (input array in the cached features, input name in ONNX)
SPECS = {
    "emb": ("fc1", "sface_embedding"),  # at --size 112 only
    "mid": ("conv_12_relu", "sface_conv12"),
    "last": ("conv_14_relu", "sface_conv14"),
    "cnn": ("crops", "crop"),
    # the eye region only (brows and eyes), for the face / eyes / both ablation of the fusion
    "eyes": ("conv_14_relu", "sface_conv14"),
}


def make(part: str, shape: tuple[int, ...], export: bool = False) -> nn.Module:
    """The module of a part for inputs of `shape` (N, ...). At --size 112 the conv12 map was
    pooled 2x2 for training; the exported model pools it itself (the runtime gives it at 14x14)."""
    if part == "emb":
        return EmbeddingHead(shape[1])
    if part == "cnn":
        return AppearanceCNN()
    pool = 2 if export and part == "mid" and shape[-1] == 7 else 1
    return MapHead(shape[1], shape[-1], pool=pool, eyes_only=part == "eyes")


def inputs(part: str, d) -> np.ndarray:
    x = d[SPECS[part][0]]
    if part == "cnn":
        return (x.astype(np.float32)[:, None] / 127.5 - 1.0).astype(np.float32)
    return x


def data(split: str, part: str, size: int):
    return np.load(CACHE / (f"{split}_crops.npz" if part == "cnn" else f"{split}_s{size}.npz"))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flip, rotation (+-10 deg), scale (0.9-1.1) and shift (+-3 px) of a batch of crops."""
    n = len(x)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 0.9 + 0.2 * torch.rand(n, generator=gen)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (3 / 24)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)


def logits_of(model: nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[s:s + batch].astype(np.float32))).numpy()
                               for s in range(0, len(x), batch)])


def train_part(part: str, epochs: int, size: int, seed: int = 0) -> None:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train, val = data("Training", part, size), data("PublicTest", part, size)
    x, y = inputs(part, train), torch.from_numpy(train["labels"])
    flip_path = CACHE / f"Training_flip_s{size}.npz"
    # feature parts see the mirrored crops' features as augmentation (when prepared)
    x_flip = inputs(part, np.load(flip_path)) if part != "cnn" and flip_path.exists() else None
    xv, yv = inputs(part, val), val["labels"]
    model = make(part, x.shape)
    lr, wd, batch = (2e-3, 5e-4, 64) if part == "cnn" else (1e-3, 5e-2, 256)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * math.ceil(len(y) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    best, log = (-1.0, None, 0), []
    for epoch in range(epochs):
        model.train()
        t = time.time()
        order = torch.randperm(len(y), generator=gen)
        for s in range(0, len(y), batch):
            idx = order[s:s + batch].numpy()
            if x_flip is not None:
                use_flip = np.random.default_rng(seed * 1000 + epoch * 7919 + s).random(len(idx)) < 0.5
                xb = np.where(use_flip.reshape(-1, *[1] * (x.ndim - 1)), x_flip[idx], x[idx])
            else:
                xb = x[idx]
            xb = torch.from_numpy(xb.astype(np.float32))
            if part == "cnn":
                xb = augment(xb, gen)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = float((logits_of(model, xv).argmax(1) == yv).mean())
        log.append({"epoch": epoch + 1, "loss": round(loss.item(), 4), "public_acc": round(acc, 4),
                    "seconds": round(time.time() - t, 1)})
        print(json.dumps(log[-1]), flush=True)
        if acc > best[0]:
            best = (acc, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    PARTS.mkdir(parents=True, exist_ok=True)
    name = part if part == "cnn" else f"{part}_s{size}"
    torch.save(model.state_dict(), PARTS / f"{name}.pt")
    np.save(PARTS / f"{name}_public_logits.npy", logits_of(model, xv))
    export_onnx(model, torch.from_numpy(np.asarray(x[:2], np.float32)), PARTS / f"{name}.onnx",
                input_names=(SPECS[part][1],), output_names=("logits",))
    (PARTS / f"{name}.json").write_text(json.dumps({"part": part, "size": size, "best_epoch": best[2],
                                                     "public_acc": best[0], "epochs": log}, indent=1))
    print(f"{part}: PublicTest accuracy {best[0]:.4f} at epoch {best[2]}")


def part_name(part: str, size: int) -> str:
    return part if part == "cnn" else f"{part}_s{size}"


def load_part(part: str, size: int) -> nn.Module:
    m = make(part, inputs(part, data("PublicTest", part, size))[:1].shape, export=True)
    m.load_state_dict(torch.load(PARTS / f"{part_name(part, size)}.pt"))
    return m.eval()


def ship(parts: list[str], with_eyes: bool, size: int) -> None:
    """Fuse trained parts (weights and temperature chosen on PublicTest) and export the model; with
    the eye-region part as a second output when asked."""
    from vultus.eval.expression import fit_temperature, scores, softmax

    yv = data("PublicTest", "cnn", size)["labels"]
    logits = {p: np.load(PARTS / f"{part_name(p, size)}_public_logits.npy") for p in parts}
    grid = [w for w in itertools.product(*[np.linspace(0.25, 1.0, 4)] * len(parts)) if max(w) == 1.0]
    weights = max(grid, key=lambda w: (sum(wi * logits[p] for wi, p in zip(w, parts)).argmax(1) == yv).mean())
    fused = sum(wi * logits[p] for wi, p in zip(weights, parts))
    temperature = fit_temperature(fused, yv)
    names = [SPECS[p][1] for p in parts]
    examples = []
    for p in parts:
        x = inputs(p, data("PublicTest", p, size))[:2]
        if p == "mid" and size == 112:  # the runtime gives it unpooled
            x = np.repeat(np.repeat(x, 2, 2), 2, 3)
        examples.append((SPECS[p][1], x))
    eyes, eyes_t, report = None, 1.0, {}
    if with_eyes:
        eyes_logits = np.load(PARTS / f"{part_name('eyes', size)}_public_logits.npy")
        eyes_t = fit_temperature(eyes_logits, yv)
        eyes = load_part("eyes", size)
        if SPECS["eyes"][1] not in names:
            names.append(SPECS["eyes"][1])
            examples.append((SPECS["eyes"][1], inputs("eyes", data("PublicTest", "eyes", size))[:2]))
        # the emotion fusion's eye weight (vultus.models.analyze.emotion_fusion.EYE_WEIGHT)
        from vultus.models.analyze.emotion_fusion import fuse

        face_p, eyes_p = softmax(fused, temperature), softmax(eyes_logits, eyes_t)
        eye_weight = max(np.round(np.arange(0, 1.0, 0.05), 2),
                         key=lambda w: ((fuse(face_p, eyes_p, w).argmax(1) == yv).mean(), -w))
        report = {"eyes_temperature": eyes_t, "eyes_public_test": scores(yv, eyes_p),
                  "eye_weight": float(eye_weight), "fused_public_test": scores(yv, fuse(face_p, eyes_p, eye_weight))}
    shipped = Shipped({p: load_part(p, size) for p in parts}, dict(zip(parts, weights)), temperature, eyes, eyes_t,
                      names.index(SPECS["eyes"][1]) if with_eyes else 0).eval()
    sha256 = export_onnx(shipped, tuple(torch.from_numpy(np.asarray(x, np.float32)) for _, x in examples), SHIPPED,
                         input_names=names, output_names=("expression", "eye_region") if with_eyes else ("expression",))
    torch.save(shipped.state_dict(), Path(__file__).parent / "shipped.pt")
    trained = {p: json.loads((PARTS / f"{part_name(p, size)}.json").read_text())
               for p in parts + (["eyes"] if with_eyes else [])}
    report = {"sha256": sha256, "parts": parts, "sface_size": size,
              "epochs": {p: len(t["epochs"]) for p, t in trained.items()},
              "best_epoch": {p: t["best_epoch"] for p, t in trained.items()}, "weights": dict(zip(parts, map(float, weights))), "temperature": temperature,
              "public_test": scores(yv, softmax(fused, temperature)),
              "public_test_uncalibrated": scores(yv, softmax(fused)), "inputs": names, **report}
    (Path(__file__).parent / "shipped.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


#: what `make train-expression` trains, with the epochs the shipped weights had: heads on the two
#: SFace maps and on the eye region (the appearance CNN, --part cnn, was too slow to train here)
DEFAULT_EPOCHS = {"last": 20, "mid": 8, "eyes": 20}


def choose_parts(trained: list[str], size: int) -> list[str]:
    """The combination of trained face parts with the best PublicTest accuracy (fused as in `ship`)."""
    yv = data("PublicTest", "cnn", size)["labels"]
    logits = {p: np.load(PARTS / f"{part_name(p, size)}_public_logits.npy") for p in trained}

    def best(parts):
        grid = [w for w in itertools.product(*[np.linspace(0.25, 1.0, 4)] * len(parts)) if max(w) == 1.0]
        return max((sum(wi * logits[p] for wi, p in zip(w, parts)).argmax(1) == yv).mean() for w in grid)

    combos = [list(c) for k in range(1, len(trained) + 1) for c in itertools.combinations(trained, k)]
    return max(combos, key=lambda c: (best(c), -len(c)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=list(SPECS))
    ap.add_argument("--epochs", type=int, default=0, help="default: 40 for cnn, 30 for the heads")
    ap.add_argument("--ship", help="comma-separated trained parts to fuse and export")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=64, help="SFace input side the features were prepared at")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.part:
        train_part(args.part, args.epochs or (40 if args.part == "cnn" else 30), args.size)
    if args.ship:
        ship(args.ship.split(","), (PARTS / f"{part_name('eyes', args.size)}.pt").exists(), args.size)
    if args.part or args.ship:
        return
    from . import prepare  # everything, as `make train-expression` does

    prepare.run(prepare.SETS, size=args.size, flip=False)
    for part, epochs in DEFAULT_EPOCHS.items():
        train_part(part, epochs, args.size)
    face_parts = [p for p in DEFAULT_EPOCHS if p != "eyes"]
    ship(choose_parts(face_parts, args.size), True, args.size)


if __name__ == "__main__":
    main()
