"""Train the attributes network (and its ablation variants and from-scratch baseline) on the cache.

    python -m training.attributes.train --variant fused --masks learned --layer conv_12_relu
    python -m training.attributes.train --all      # every configuration the bench reports

Each run writes `bench/results/attributes/runs/<key>.pt` (weights + config) and `<key>.json`
(validation figures per epoch, and the epoch kept: the best validation score). The test split is
never read here. CPU, one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vultus.models.analyze.attributes import masks_from_points

from . import config
from .data import SOURCES
from .features import mirror_points
from .model import AGES, EmbeddingHeads, MaskGuided, SmallCNN, age_mean

RUNS = config.CACHE / "runs"
LFW_GENDER_WEIGHT = 0.5  # LFW adds gender only, for adults; UTKFace stays the main signal
AGE_L1_WEIGHT = 0.1
MASK_PRIOR_WEIGHT = 1.0


@dataclass(frozen=True)
class RunConfig:
    variant: str = "fused"  # global | groups | fused | embedding | scratch
    masks: str = "learned"  # fixed | learned
    layer: str = "conv_12_relu"
    lfw: bool = False  # add LFW gender labels
    epochs: int = config.EPOCHS
    seed: int = config.SEED

    @property
    def key(self) -> str:
        if self.variant in ("embedding", "scratch"):
            base = self.variant
        else:
            base = f"{self.variant}-{self.masks}-{self.layer}" if self.variant != "global" else f"global-{self.layer}"
        return base + ("-lfw" if self.lfw else "")


def cached_sources() -> list[str]:
    return [name for name in SOURCES if (config.CACHE / name / "faces.npz").exists()]


class Labels:
    """Label arrays for every cached row (the sources one after another), and the prior masks for
    the plain and mirrored crops."""

    def __init__(self):
        self.sources = cached_sources()
        samples = [s for name in self.sources for s in SOURCES[name]()]
        self.samples = samples
        self.source = np.array([s.source for s in samples])
        self.split = np.array([s.split for s in samples])
        self.age = np.array([s.age for s in samples], np.float32)
        self.gender = np.array([s.gender for s in samples], np.int64)
        self.race = np.array([s.race for s in samples], np.int64)
        points = np.concatenate([np.load(config.CACHE / name / "faces.npz")["points"] for name in self.sources])
        self.points = points
        self.prior = np.stack([masks_from_points(p) for p in points])
        self.prior_flip = np.stack([masks_from_points(p) for p in mirror_points(points)])

    def rows(self, split: str, lfw: bool = True, source: str | None = None) -> np.ndarray:
        if source is not None:
            return np.flatnonzero((self.split == split) & (self.source == source))
        keep = (self.split == split) & ((self.source == "utkface") | (lfw & (self.source == "lfw")))
        return np.flatnonzero(keep)


_INPUTS: dict = {}


def inputs_for(cfg: RunConfig, labels: Labels):
    """The model's input arrays (plain, mirrored) for every cached row, in memory (the last
    input asked for is kept, so runs on the same layer load it once)."""
    if cfg.variant == "embedding":
        name = config.EMBEDDING
    elif cfg.variant == "scratch":
        name = "crops"
    else:
        name = cfg.layer
    key = (name, tuple(labels.sources))
    if key not in _INPUTS:
        _INPUTS.clear()
        parts, flipped = [], []
        for source in labels.sources:
            folder = config.CACHE / source
            parts.append(np.load(folder / f"{name}.npy", mmap_mode="r"))
            flip = folder / f"{name}_flip.npy"
            flipped.append(np.load(flip, mmap_mode="r") if flip.exists() else parts[-1])
        plain = np.concatenate(parts)
        _INPUTS[key] = (plain, plain if name == "crops" else np.concatenate(flipped))
    return _INPUTS[key]


def build(cfg: RunConfig):
    if cfg.variant == "embedding":
        return EmbeddingHeads()
    if cfg.variant == "scratch":
        return SmallCNN()
    return MaskGuided(cfg.variant, cfg.masks)


def batch(cfg, labels, plain, flipped, rows, flip):
    """Tensors for the given rows; `flip` (bool per row) picks the mirrored view."""
    if cfg.variant == "scratch":
        img = np.asarray(plain[rows])
        img = np.where(flip[:, None, None, None], img[:, :, ::-1], img)
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(0, 3, 1, 2).float()
    else:
        x = np.where(flip.reshape(-1, *[1] * (plain.ndim - 1)), flipped[rows], plain[rows])
        x = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    prior = torch.from_numpy(np.where(flip[:, None, None, None], labels.prior_flip[rows], labels.prior[rows]))
    y = (torch.from_numpy(labels.gender[rows]), torch.from_numpy(labels.race[rows]),
         torch.from_numpy(labels.age[rows]), torch.from_numpy(labels.source[rows] == "lfw"))
    return x, prior, y


def age_targets(age: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Label distributions: a Gaussian around the true age over the 0..100 bins (DLDL)."""
    bins = torch.arange(AGES, dtype=torch.float32)
    t = torch.exp(-0.5 * ((bins[None] - age[:, None]) / sigma) ** 2)
    return t / t.sum(1, keepdim=True)


def loss_of(cfg, out, prior, y):
    gender_logits, race_logits, age_logits, masks = out
    gender, race, age, is_lfw = y
    has_g, has_r, has_a = gender >= 0, race >= 0, age >= 0
    w = torch.where(is_lfw, LFW_GENDER_WEIGHT, 1.0)
    loss = (F.cross_entropy(gender_logits[has_g], gender[has_g], reduction="none") * w[has_g]).sum() / w[has_g].sum()
    if has_r.any():
        loss = loss + F.cross_entropy(race_logits[has_r], race[has_r])
    if has_a.any():
        logp = F.log_softmax(age_logits[has_a], 1)
        loss = loss + F.kl_div(logp, age_targets(age[has_a]), reduction="batchmean")
        loss = loss + AGE_L1_WEIGHT * (age_mean(age_logits[has_a]) - age[has_a]).abs().mean()
    if cfg.variant not in ("global", "embedding", "scratch") and cfg.masks == "learned":
        loss = loss + MASK_PRIOR_WEIGHT * ((masks - prior) ** 2).mean()
    return loss


@torch.no_grad()
def predict(cfg, model, labels, plain, flipped, rows, chunk: int = 256):
    """Probabilities (gender, race), age means and age distributions for the rows (plain views)."""
    model.eval()
    outs = []
    for i in range(0, len(rows), chunk):
        x, prior, _ = batch(cfg, labels, plain, flipped, rows[i:i + chunk], np.zeros(len(rows[i:i + chunk]), bool))
        g, r, a, _ = model(x, prior)
        outs.append((torch.softmax(g, 1), torch.softmax(r, 1), age_mean(a), torch.softmax(a, 1)))
    return tuple(torch.cat(o).numpy() for o in zip(*outs))


def metrics(labels, rows, pred) -> dict[str, float]:
    pg, pr, age, _ = pred
    utk = labels.source[rows] == "utkface"
    lfw = labels.source[rows] == "lfw"
    out = {"gender_acc": float((pg[utk].argmax(1) == labels.gender[rows][utk]).mean()),
           "race_acc": float((pr[utk].argmax(1) == labels.race[rows][utk]).mean()),
           "age_mae": float(np.abs(age[utk] - labels.age[rows][utk]).mean())}
    if lfw.any():
        out["lfw_gender_acc"] = float((pg[lfw].argmax(1) == labels.gender[rows][lfw]).mean())
    # one number to choose epochs by (validation only): accuracy points minus MAE in years
    out["score"] = 100 * (out["gender_acc"] + out["race_acc"]) - out["age_mae"]
    return out


def train(cfg: RunConfig, labels: Labels | None = None) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    labels = labels or Labels()
    plain, flipped = inputs_for(cfg, labels)
    train_rows, val_rows = labels.rows("train", cfg.lfw), labels.rows("val", cfg.lfw)
    model = build(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=config.LR, weight_decay=config.WEIGHT_DECAY)
    steps = cfg.epochs * math.ceil(len(train_rows) / config.BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.LR, total_steps=steps, pct_start=0.1)
    history, best, t0 = [], None, time.time()
    for epoch in range(cfg.epochs):
        model.train()
        perm = rng.permutation(train_rows)
        flips = rng.random(len(perm)) < 0.5
        for i in range(0, len(perm), config.BATCH):
            x, prior, y = batch(cfg, labels, plain, flipped, perm[i:i + config.BATCH], flips[i:i + config.BATCH])
            loss = loss_of(cfg, model(x, prior), prior, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        m = metrics(labels, val_rows, predict(cfg, model, labels, plain, flipped, val_rows))
        m["epoch"] = epoch + 1
        history.append(m)
        print(f"{cfg.key} epoch {epoch + 1}: " + " ".join(f"{k} {v:.4f}" for k, v in m.items() if k != "epoch")
              + f" ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        if best is None or m["score"] > best[0]["score"]:
            best = (m, {k: v.clone() for k, v in model.state_dict().items()})
    RUNS.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(cfg), "state": best[1]}, RUNS / f"{cfg.key}.pt")
    result = {"config": asdict(cfg), "key": cfg.key, "best": best[0], "history": history,
              "seconds": round(time.time() - t0, 1)}
    (RUNS / f"{cfg.key}.json").write_text(json.dumps(result, indent=1))
    return result


def load_run(key: str):
    ckpt = torch.load(RUNS / f"{key}.pt", weights_only=False)
    cfg = RunConfig(**ckpt["config"])
    model = build(cfg)
    model.load_state_dict(ckpt["state"])
    return cfg, model.eval()


#: every configuration the bench reports (the shipped one is chosen among them on validation)
ALL = [RunConfig("fused", "learned"), RunConfig("global", "fixed"), RunConfig("fused", "fixed"),
       RunConfig("scratch"), RunConfig("groups", "learned"), RunConfig("embedding"),
       RunConfig("fused", "learned", layer="conv_7_relu"), RunConfig("groups", "fixed"),
       RunConfig("global", "fixed", layer="conv_7_relu"), RunConfig("fused", "learned", lfw=True)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="fused")
    ap.add_argument("--masks", default="learned")
    ap.add_argument("--layer", default="conv_12_relu")
    ap.add_argument("--epochs", type=int, default=config.EPOCHS)
    ap.add_argument("--lfw", action="store_true", help="add the LFW gender labels")
    ap.add_argument("--all", action="store_true", help="every configuration in ALL (skips those already trained)")
    ap.add_argument("--shard", default="0/1", help="K/N: this process trains every N-th configuration of ALL from K")
    a = ap.parse_args()
    labels = Labels()
    k, n = (int(v) for v in a.shard.split("/"))
    runs = ALL[k::n] if a.all else [RunConfig(a.variant, a.masks, a.layer, a.lfw, a.epochs)]
    for cfg in runs:
        if a.all and (RUNS / f"{cfg.key}.json").exists():
            continue
        if cfg.lfw and "lfw" not in labels.sources:
            print(f"{cfg.key}: the LFW features are not cached; left out", file=sys.stderr)
            continue
        r = train(cfg, labels)
        print(json.dumps({"key": r["key"], **r["best"]}), flush=True)


if __name__ == "__main__":
    main()
