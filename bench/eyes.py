"""Eye behaviour (`eyes` track analyzer): blink detection against hand annotations, and speed.

1. Blinks: every annotated clip (bench/annotations/blinks.json: how they were annotated is written
   there) runs through `analyze_video(..., analyzers="eyes")`; the blinks of the clip's main track
   (most frames) are matched to the annotated ones: a detection and an annotation match when their
   spans overlap, with one frame of slack on each side, one to one in time order. Detections that
   match an annotation marked uncertain are left out, and uncertain annotations are never misses.
   Precision, recall, and the median onset difference of matched blinks.
2. Speed at 720p: frames per second of video analysis with tracking only and with tracking plus
   `eyes` (dense mesh every frame of every track), alternating, median of `--runs` runs; the goal
   is 25 frames/s with the eyes.

There is no eye-tracker recording of these clips: the gaze proxy, fixations and saccades have no
ground truth here and are not scored.

Run: .venv/bin/python bench/eyes.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import DATA, ROOT, git_rev, machine, write_section

ANNOTATIONS = ROOT / "bench" / "annotations" / "blinks.json"
SPEED_CLIP = "woman_a_indoor_1280x720.mp4"


def detected_blinks(clip: Path) -> tuple[list[tuple[float, float]], object]:
    from vultus.video import analyze_video

    result = analyze_video(clip, analyzers="eyes")
    main = max(result.tracks, key=lambda t: t.last_frame - t.first_frame)
    return [(e.start, e.end) for e in main.events if e.kind == "blink"], main


def match(found: list[tuple[float, float]], truth: list[dict], slack: float) -> dict:
    """Greedy one-to-one matching in time order of overlapping spans (each widened by `slack`)."""
    used, tp, fp, onsets = set(), 0, 0, []
    for s, e in found:
        hit = next((i for i, t in enumerate(truth) if i not in used and s - slack <= t["end"] and
                    t["start"] <= e + slack), None)
        if hit is None:
            fp += 1
            continue
        used.add(hit)
        if truth[hit].get("uncertain"):
            continue
        tp += 1
        onsets.append(s - truth[hit]["start"])
    fn = sum(1 for i, t in enumerate(truth) if i not in used and not t.get("uncertain"))
    return {"tp": tp, "fp": fp, "fn": fn, "onsets": onsets}


def fps(clip: Path, analyzers: str | None) -> float:
    from vultus.video import analyze_video

    t = time.perf_counter()
    r = analyze_video(clip, analyzers=analyzers)
    return r.frames / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from vultus.errors import ModelError
    from vultus.models import registry
    from vultus.pipeline import DEFAULT_LANDMARKER

    try:
        registry.get(DEFAULT_LANDMARKER)
    except ModelError as e:
        sys.exit(f"bench/eyes.py needs the dense landmarker the eyes analyzer runs on: {e}")
    notes = json.loads(ANNOTATIONS.read_text())
    rows, total = [], {"tp": 0, "fp": 0, "fn": 0, "onsets": []}
    for name, clip in notes["clips"].items():
        found, track = detected_blinks(DATA / "video" / name)
        m = match(found, clip["blinks"], 1.0 / clip["fps"])
        for k in total:
            total[k] += m[k]
        rate = track.analysis.get("blink_rate")
        rows.append(f"| {name} | {sum(not b.get('uncertain') for b in clip['blinks'])} "
                    f"(+{sum(bool(b.get('uncertain')) for b in clip['blinks'])} uncertain) | {len(found)} | "
                    f"{m['tp']} | {m['fp']} | {m['fn']} | {rate.value:.0f} |" if rate else "| - |")
    precision = total["tp"] / max(total["tp"] + total["fp"], 1)
    recall = total["tp"] / max(total["tp"] + total["fn"], 1)
    onset = statistics.median(total["onsets"]) * 1000 if total["onsets"] else float("nan")
    clip = DATA / "video" / SPEED_CLIP
    speeds = {"tracking": [], "tracking + eyes": []}
    for _ in range(args.runs):
        speeds["tracking"].append(fps(clip, None))
        speeds["tracking + eyes"].append(fps(clip, "eyes"))
    med = {k: statistics.median(v) for k, v in speeds.items()}
    load = os.getloadavg()
    md = "\n".join([
        "## Eye behaviour (blinks against hand annotation; speed at 720p)", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {machine()}, commit {git_rev()}, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end of the run. Command: "
        f"`.venv/bin/python bench/eyes.py --runs {args.runs}`.", "",
        "Blinks were annotated by hand from contact sheets of every frame's eye region (the method, the "
        "rule for a blink's start and end, and the timestamps are in `bench/annotations/blinks.json`). "
        "A detection matches an annotation when the spans overlap (one frame of slack).", "",
        "| clip | annotated blinks | detected | matched | false | missed | blink rate (per min) |",
        "|---|---|---|---|---|---|---|", *rows, "",
        f"All clips: precision **{precision:.2f}**, recall **{recall:.2f}** ({total['tp']} matched, "
        f"{total['fp']} false, {total['fn']} missed); median onset difference {onset:.0f} ms.", "",
        "There is **no eye-tracker ground truth** here: the gaze proxy, fixations and saccades are reported by "
        "the analyzer but not validated.", "",
        f"Speed on `{SPEED_CLIP}` (1280x720, whole clip, decoding included, median of {args.runs} runs, "
        f"alternating): tracking only {med['tracking']:.1f} frames/s, tracking + eyes (mesh every frame) "
        f"**{med['tracking + eyes']:.1f} frames/s** (goal 25: "
        f"{'met' if med['tracking + eyes'] >= 25 else 'not met'}).", ""])
    print(md)
    write_section("eyes", md)


if __name__ == "__main__":
    sys.exit(main())
