"""What the analyzer path costs on top of the analyzers themselves: `Pipeline.analyze` (requirements,
dispatch) against calling the analyzer directly on the same faces, and video with an analyzer lifted
onto tracks against video without it.

Run: .venv/bin/python bench/analysis.py [--analyzer agegender]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _common import DATA, ROOT, git_rev, machine, write_section
from vultus.io import load_image
from vultus.models import registry
from vultus.pipeline import Pipeline


def per_face_ms(fn, faces: int, repeat: int = 20) -> float:
    fn()
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        runs.append((time.perf_counter() - t) / repeat / faces * 1000)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analyzer", default="agegender")
    a = ap.parse_args()
    from vultus import runtime

    runtime.configure(threads=1)
    pipe = Pipeline()
    analyzer = registry.load(a.analyzer)
    images = [load_image(p) for p in sorted((ROOT / "examples" / "images").glob("*.jpg"))]
    detected = [(img, pipe.detect(img)) for img in images]
    faces = sum(len(f) for _, f in detected)
    direct = per_face_ms(lambda: [analyzer.analyze(img, f) for img, f in detected], faces)
    through = per_face_ms(lambda: [pipe.analyze(img, faces=f, analyzers=[analyzer]) for img, f in detected], faces)
    rows = [f"| `{a.analyzer}` called directly | {direct:.2f} | |",
            f"| `Pipeline.analyze(image, faces, analyzers=[...])` | {through:.2f} | {through - direct:+.2f} |"]
    video_rows = []
    clip = DATA / "video" / "obama_nasa_speech_640x360.mp4"
    if clip.exists():
        from vultus.video import analyze_video

        fps = {}
        for label, opts in (("without analyzers", {}), (f"with `{a.analyzer}` on every track", {"analyzers": a.analyzer})):
            runs = [analyze_video(clip, end=10.0, **opts) for _ in range(3)]
            fps[label] = statistics.median(r.processing_fps for r in runs)
            samples = sum(len(t.events) for t in runs[0].tracks)
            video_rows.append(f"| {label} | {fps[label]:.1f} | {samples} |")
    md = f"""## The analyzer path: overhead per face

Command: `.venv/bin/python bench/analysis.py --analyzer {a.analyzer}`. Machine: {machine()}.
Date: {time.strftime('%Y-%m-%d')}, commit {git_rev()}; one thread per inference, median of 5 runs;
load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}.
The same detected faces of `examples/images` ({faces} faces), milliseconds per face:

| call | ms per face | overhead |
|---|---|---|
{chr(10).join(rows)}

Video (`{clip.name}`, first 10 s, 640x360, median of 3 runs; the analyzer runs on each track's detected
faces at most every 0.5 s):

| run | frames / s | analyses (timeline events) |
|---|---|---|
{chr(10).join(video_rows)}
"""
    write_section("analysis", md)
    print(md)


if __name__ == "__main__":
    main()
