"""Every setting of the attributes training in one place (read by data, features, train, export)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data")).resolve()
CACHE = ROOT / "bench" / "results" / "attributes"  # git-ignored: detections, crops, backbone features
SPLITS = Path(__file__).resolve().parent / "splits"  # committed: the documented splits
WEIGHTS = ROOT / "src" / "vultus" / "weights" / "attributes.onnx"

SEED = 20261128
UTK_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}  # per (age group, gender, race) stratum
LFW_FRACTIONS = {"train": 0.80, "val": 0.10, "test": 0.10}  # per person

# SFace layers whose activations the cache keeps (14x14x512 each) and the embedding (128-d)
FEATURE_LAYERS = ("conv_7_relu", "conv_12_relu")
EMBEDDING = "fc1"

# training (CPU, one thread)
EPOCHS = 15
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 5e-4
