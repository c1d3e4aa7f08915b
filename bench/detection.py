"""Detector average precision on the WIDER FACE validation subset, and speed.

Every detector runs once over the 161 images of wider_val (AP easy / medium / hard by the official
protocol, plus AP over all valid faces at least 20 px tall, see vultus.eval.wider), each at its own
score threshold. Speed: CPU milliseconds per image, the median of 3 timed passes over a sample of 20
of those images (decoded beforehand, so only detection is timed); YuNet configurations are also
timed on the same 20 images resized to 640x480 and on 20 LFW photos (250x250), where a detector
meant for everyday photos must stay cheap. OpenCV runs single-threaded, so the figures compare with
dlib's single-threaded HOG, and CPU time does not grow with what else the shared machine runs.

The baseline is dlib's HOG detector as face_recognition runs it (upsampling once); its AP uses
the scores of `run(image, 1, -1)`, i.e. detections down to a score of -1.

Run: .venv/bin/python bench/detection.py   (14 min on 2 cores shared with other jobs; dlib HOG takes half)
Writes the "detection" section of docs/benchmarks.md and the detector figures shown by `vultus models`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import datetime, timezone

import cv2
import numpy as np
from _common import DATA, git_rev, lfw_images, machine, update_figures, write_section

from vultus import load_image
from vultus.eval import wider
from vultus.models import create

TIMING_IMAGES = 20
TIMING_PASSES = 3

# (label, registered detector, options on top of its registered defaults)
CONFIGS = [
    ("YuNet, registered default", "yunet", {}),
    ("YuNet fast, registered", "yunet_fast", {}),
    ("YuNet, scale 1, threshold 0.3", "yunet", {"scales": (1.0,), "score_threshold": 0.3}),
    ("YuNet, scale 1.5 only, threshold 0.2", "yunet", {"scales": (1.5,), "score_threshold": 0.2}),
    ("YuNet, scales 1+2, threshold 0.3", "yunet", {"scales": (1.0, 2.0), "score_threshold": 0.3}),
    ("CenterFace, registered default", "centerface", {}),
    ("CenterFace, threshold 0.3", "centerface", {"score_threshold": 0.3}),
]
BASELINE = "dlib HOG, upsample 1 (face_recognition)"


class DlibHog:
    """face_recognition's default detector: dlib HOG + linear SVM, the image upsampled once."""

    def __init__(self):
        import dlib

        self._det = dlib.get_frontal_face_detector()

    def boxes(self, image: np.ndarray) -> np.ndarray:
        rects, scores, _ = self._det.run(image, 1, -1)
        # dlib's right/bottom are inclusive pixels; +1 gives the exclusive corner our detectors use
        return np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1, s] for r, s in zip(rects, scores)],
                        np.float64).reshape(-1, 5)


class Vultus:
    def __init__(self, name: str, options: dict):
        self._det = create(name, "detector", **options)
        d = self._det
        self.settings = f"scales={d.scales}, score_threshold={d.score_threshold}, max_side={d.max_side}"

    def boxes(self, image: np.ndarray) -> np.ndarray:
        faces = self._det.detect(image)
        return np.array([[*f.box, f.score] for f in faces], np.float64).reshape(-1, 5)


def ms_per_image(det, images: list[np.ndarray]) -> float:
    """CPU milliseconds per image. Everything runs on one thread, so on an idle core this equals
    wall time; unlike wall time it does not grow with the load other users put on the machine."""
    det.boxes(images[0])  # warm-up: first call allocates the network for this input size
    passes = []
    for _ in range(TIMING_PASSES):
        t = time.process_time()
        for img in images:
            det.boxes(img)
        passes.append((time.process_time() - t) * 1000 / len(images))
    return statistics.median(passes)


def main() -> None:
    from vultus import runtime

    cv2.setNumThreads(1)
    runtime.configure(threads=1)  # single-threaded, as the timing below says
    t0 = time.time()
    root = DATA / "wider_val"
    if not root.is_dir():
        sys.exit(f"WIDER FACE subset not found at {root} (set VULTUS_DATA to the shared data folder)")
    images = wider.load_subset(root)
    pixels = {im.name: load_image(im.path) for im in images}
    step = len(images) // TIMING_IMAGES
    sample = [pixels[im.name] for im in images[::step][:TIMING_IMAGES]]
    small = [cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA) for img in sample]
    lfw = [load_image(p) for p in lfw_images()[::500][:TIMING_IMAGES]]

    rows = []
    for label, name, options in [*CONFIGS, (BASELINE, None, {})]:
        det = DlibHog() if name is None else Vultus(name, options)
        t = time.time()
        preds = {n: det.boxes(img) for n, img in pixels.items()}
        result = wider.evaluate(images, preds)
        if name and not options:  # say what the registered defaults are
            label += f" (`{det.settings}`)"
        row = {"label": label, "name": name, "options": options, "result": result,
               "ms": ms_per_image(det, sample)}
        if name in ("yunet", "yunet_fast"):
            row["ms_640"] = ms_per_image(det, small)
            row["ms_lfw"] = ms_per_image(det, lfw) if lfw else None
        rows.append(row)
        print(f"{label}: " + ", ".join(f"{s} {r['ap']:.3f}" for s, r in result.items())
              + f", {row['ms']:.0f} ms/image ({time.time() - t:.0f} s)", file=sys.stderr, flush=True)

    base = rows[-1]
    # face_recognition itself keeps HOG detections scoring >= 0: the same run, cut there
    kept = {n: p[p[:, 4] >= 0] for n, p in preds.items()}
    rows.append({**base, "label": "dlib HOG, scores >= 0 (face_recognition's own cut)",
                 "result": wider.evaluate(images, kept)})
    for row in rows:
        if row["options"] == {} and row["name"]:  # the registered configuration of each detector
            r = row["result"]
            update_figures(row["name"], {
                "wider_ap_easy": round(r["easy"]["ap"], 3), "wider_ap_medium": round(r["medium"]["ap"], 3),
                "wider_ap_hard": round(r["hard"]["ap"], 3), "wider_ap_20px": round(r["min20"]["ap"], 3),
                "ms_per_wider_image": round(row["ms"], 1),
            })
    markdown = report(rows, base, images, time.time() - t0)
    print(markdown)
    print(f"wrote {write_section('detection', markdown)}", file=sys.stderr)


def report(rows: list[dict], base: dict, images: list, seconds: float) -> str:
    def fmt_ms(v):
        return "-" if v is None else f"{v:.0f}"

    lines = [
        "## Face detection: WIDER FACE validation subset",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {machine()}, commit {git_rev()}, "
        f"in {seconds / 60:.0f} min (load average {os.getloadavg()[0]:.1f} at the end: the machine was shared).",
        "",
        "Command: `.venv/bin/python bench/detection.py`",
        "",
        f"Data: the {len(images)} images of `wider_val` (12 of the 61 validation events, 1024 px wide; "
        f"{sum(int(i.counted['easy'].sum()) for i in images)} easy, "
        f"{sum(int(i.counted['medium'].sum()) for i in images)} medium, "
        f"{sum(int(i.counted['hard'].sum()) for i in images)} hard faces, "
        f"{sum(int(i.counted['min20'].sum()) for i in images)} valid faces at least 20 px tall). "
        "AP by the official WIDER FACE protocol (IoU 0.5; faces outside a setting are ignored, "
        "neither hits nor false positives); *>=20 px* counts every valid face at least 20 px tall "
        "the same way. Each detector runs at its own score threshold, so AP includes what that "
        "threshold cuts off; R / P are recall and precision on the >=20 px faces at that threshold. "
        f"ms: CPU time per image, single-threaded (OpenCV and vultus's runtime set to one thread; dlib's HOG uses one), "
        f"the median of {TIMING_PASSES} passes over {TIMING_IMAGES} of the images (1024 px wide), "
        f"detection only, after one warm-up call; CPU time rather than wall time because other jobs "
        f"shared the machine. *640x480*: the same images resized; "
        f"*LFW*: {TIMING_IMAGES} LFW photos (250x250). "
        "The figures are not comparable with full-validation-set results (only 12 events). "
        "Baseline for the ratios: the first dlib HOG row.",
        "",
        f"Goal for the default detector: AP >=20 px at least 0.90. The registered YuNet default "
        f"measures {rows[0]['result']['min20']['ap']:.3f}.",
        "",
        "| detector | AP easy | AP medium | AP hard | AP >=20 px | R / P >=20 px | ms / image | ms 640x480 | ms LFW | AP >=20 px vs baseline | speed vs baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    b_ap = base["result"]["min20"]["ap"]
    for row in rows:
        r = row["result"]
        speed = "baseline" if row["name"] is None else f"{base['ms'] / row['ms']:.1f}x faster"
        lines.append(
            f"| {row['label']} | {r['easy']['ap']:.3f} | {r['medium']['ap']:.3f} | {r['hard']['ap']:.3f} "
            f"| **{r['min20']['ap']:.3f}** | {r['min20']['recall']:.2f} / {r['min20']['precision']:.2f} "
            f"| {row['ms']:.0f} | {fmt_ms(row.get('ms_640'))} | {fmt_ms(row.get('ms_lfw'))} "
            f"| {r['min20']['ap'] / b_ap:.2f}x | {speed} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
