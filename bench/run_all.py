"""`make bench`: run every benchmark script in turn; each rewrites its own section of
docs/benchmarks.md (and the figures `vultus models` shows).

    .venv/bin/python bench/run_all.py [--only speed,load] [--list]

Long: a full run takes hours on 2 cores (calibration is not part of it: it changes the shipped
thresholds, run `bench/calibrate.py` on purpose). Scripts run one at a time, since each measures
speed, and a failing script is reported without stopping the others. A script in bench/ that is
in neither list below is reported, so a new benchmark is not silently left out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: in the order they run: accuracy first, then speed (the machine should be quiet for those)
BENCHMARKS = ["runtime", "lfw", "detection", "fairness", "landmarks", "attributes", "expression", "eyes", "antispoof", "ageing",
              "gallery_search", "ann", "speed", "analysis", "video", "load", "hardening"]
#: scripts that are not measurements of the shipped system (they derive or calibrate it)
NOT_BENCHMARKS = {"run_all", "calibrate", "derive_dlib_template", "derive_canonical_face", "baseline_fr_lfw"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated script names (without .py)")
    ap.add_argument("--list", action="store_true", help="print what would run and exit")
    a = ap.parse_args()
    present = {p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_")}
    unlisted = sorted(present - set(BENCHMARKS) - NOT_BENCHMARKS)
    if unlisted:
        print(f"note: bench scripts not in run_all.BENCHMARKS: {', '.join(unlisted)}", file=sys.stderr)
    chosen = a.only.split(",") if a.only else [b for b in BENCHMARKS if b in present]
    if a.list:
        print("\n".join(chosen))
        return 0
    failed = []
    for name in chosen:
        t = time.time()
        print(f"== {name}", file=sys.stderr, flush=True)
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent)
        print(f"== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.time() - t:.0f} s",
              file=sys.stderr, flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
