"""End-to-end throughput (decode, detect, align, embed) on 1,000 LFW images, side by side with the
face_recognition package, 2 processes each, on the same images in one run; median of 3 runs each.

Run: .venv/bin/python bench/speed.py [--images 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import RESULTS, lfw_images, machine, update_figures, write_section

SYSTEMS = {
    "vultus default (yunet + sface)": ("vultus", "sface"),
    "vultus fast (yunet_fast + sface)": ("vultus_fast", "sface"),
    "vultus accurate (yunet + sface+dlib:flip)": ("vultus", "sface+dlib:flip"),
    "face_recognition 1.3.0 (HOG + dlib ResNet)": ("face_recognition", ""),
}
_STATE: dict = {}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _init(kind: str, recognizer: str) -> None:
    import cv2

    cv2.setNumThreads(1)
    if kind.startswith("vultus"):
        from vultus.pipeline import Pipeline

        _STATE["pipe"] = Pipeline("yunet_fast" if kind == "vultus_fast" else "yunet", recognizer)


def _work(paths: list[str]) -> tuple[int, float]:
    """Embed every face of each image; returns (faces, this worker's peak RSS in MB)."""
    n = 0
    if "pipe" in _STATE:
        for p in paths:
            n += len(_STATE["pipe"].embed(p))
    else:
        import face_recognition

        for p in paths:
            img = face_recognition.load_image_file(p)
            n += len(face_recognition.face_encodings(img, face_recognition.face_locations(img)))
    return n, _peak_rss_mb()


def run_once(kind: str, recognizer: str, paths: list[str], workers: int) -> dict:
    chunks = [paths[i:i + 20] for i in range(0, len(paths), 20)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(kind, recognizer)) as ex:
        ex.submit(time.sleep, 0.1).result()  # wait for workers: model loading is not throughput
        list(ex.map(_work, [chunks[0][:2]] * workers))  # warm-up
        t = time.perf_counter()
        res = list(ex.map(_work, chunks))
        dt = time.perf_counter() - t
    return {"images_per_s": len(paths) / dt, "faces": sum(r[0] for r in res), "peak_rss_mb": max(r[1] for r in res)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    paths = [str(p) for p in lfw_images()]
    random.Random(0).shuffle(paths)
    paths = paths[:a.images]
    results: dict[str, list[dict]] = {k: [] for k in SYSTEMS}
    for _ in range(a.runs):  # interleaved, so load from elsewhere hits every system alike
        for name, (kind, rec) in SYSTEMS.items():
            results[name].append(run_once(kind, rec, paths, a.workers))
            print(name, results[name][-1], file=sys.stderr, flush=True)
    base = statistics.median(r["images_per_s"] for r in results[list(SYSTEMS)[-1]])
    rows = ["| pipeline | images / s (median) | all runs | × face_recognition | faces found | peak RSS per process |",
            "|---|---|---|---|---|---|"]
    for name, runs in results.items():
        med = statistics.median(r["images_per_s"] for r in runs)
        each = ", ".join(f"{r['images_per_s']:.1f}" for r in runs)
        rows.append(f"| {name} | **{med:.1f}** | {each} | "
                    f"{med / base:.1f}× | {runs[0]['faces']} / {len(paths)} | {max(r['peak_rss_mb'] for r in runs):.0f} MB |")
    default = statistics.median(r["images_per_s"] for r in results[list(SYSTEMS)[0]])
    update_figures("sface", {"lfw_images_per_s_2proc": round(default, 1)})
    md = f"""## Speed: images per second end to end

Command: `.venv/bin/python bench/speed.py --images {a.images} --runs {a.runs} --workers {a.workers}`.
Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}.
The same {len(paths)} LFW images (random, seed 0) for every pipeline: decode, detect, align and embed every face,
{a.workers} processes each (one OpenCV thread per process), after model loading and one warm-up chunk;
runs interleaved, median of {a.runs}. face_recognition uses its defaults (HOG detector with upsample 1,
68-point landmarks, dlib ResNet).

{chr(10).join(rows)}
"""
    write_section("speed", md)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(results, indent=1))
    print(md)


if __name__ == "__main__":
    main()
