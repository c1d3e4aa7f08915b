"""Fit the shipped virtual camera model: a novelty model of authentic sessions only.

    make train-vcd        (= python -m training.vcd.train)

The authentic sessions are generated from the documented real-camera profiles of `profiles.py`
(no real camera can be recorded here; read that module's docstring for what the data is and is
not). No injected session is used: those recorded by `record.py` are for evaluation only
(bench/antispoof.py). The threshold is the 99th percentile of out-of-fold authentic scores
(a 1 % false-alarm target on these profiles). Writes src/vultus/weights/vcd.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vultus.sessions import NoveltyModel, feature_matrix

from . import profiles

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "src" / "vultus" / "weights" / "vcd.json"
PER_PROFILE = 150
SEED = 0


def fit(per_profile: int = PER_PROFILE, seed: int = SEED, false_alarm: float = 0.01) -> NoveltyModel:
    authentic = profiles.generate(per_profile, seed)
    x = feature_matrix(authentic)
    model = NoveltyModel.fit(x)
    model.calibrate(x, false_alarm)
    model.info.update({"trained_on": f"{len(authentic)} authentic sessions generated from {len(profiles.PROFILES)} "
                       "documented real-camera profiles (training/vcd/profiles.py), seed "
                       f"{seed}; no recorded session, no injected session",
                       "profiles": [p.name for p in profiles.PROFILES], "authentic": len(authentic)})
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args()
    model = fit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(model.to_json())
    import hashlib

    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), threshold {model.threshold:.4f}, "
          f"sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
