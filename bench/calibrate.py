"""Calibrate the shipped decision table `src/vultus/data/thresholds.json` from LFW.

For each recognizer (sface, dlib, sface+dlib; plain and with flip TTA):
- fusion weights: logistic regression on the 6,000 pairs of LFW pairs.txt;
- FAR thresholds: from ALL impostor pairs among the 7,701 LFW pair images (about 29 million),
  so FARs down to 1e-6 are measured, not extrapolated; a FAR is left out when there are fewer
  than 10 / FAR impostor scores;
- the best-accuracy threshold: on the 6,000 pairs of pairs.txt.
Run: .venv/bin/python bench/calibrate.py   (reuses bench/results/cache; ~20 min cold on 2 cores)
"""

from __future__ import annotations

import json
import time

import numpy as np

from _common import LFW, ROOT, git_rev, lfw_embeddings, machine
from vultus.eval import metrics
from vultus.eval.pairs import read_pairs

FARS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
RECOGNIZERS = (("sface",), ("dlib",), ("sface", "dlib"))


def impostor_genuine(mats: list[np.ndarray], w: np.ndarray, ident: np.ndarray):
    """Scores of all unordered pairs, split by same/different identity, in row blocks."""
    gen, imp = [], []
    for start in range(0, len(ident), 1024):
        block = sum(wi * (m[start:start + 1024] @ m.T) for wi, m in zip(w, mats))
        rows = np.arange(start, min(start + 1024, len(ident)))
        upper = np.arange(len(ident))[None, :] > rows[:, None]
        same = ident[rows][:, None] == ident[None, :]
        gen.append(block[upper & same])
        imp.append(block[upper & ~same])
    return np.concatenate(gen), np.concatenate(imp)


def main() -> None:
    t0 = time.time()
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw")
    labels = np.array([p.same for p in pairs])
    table = {}
    for flip in (False, True):
        key = "sface+dlib" + (":flip" if flip else "")
        paths, emb = lfw_embeddings(key)
        ok = [p for p in paths if emb[p] is not None]
        ident = np.array([p.parent.name for p in ok])
        vec = {m: np.stack([emb[p][m] for p in ok]).astype(np.float32) for m in ("sface", "dlib")}
        print(f"{key}: {len(ok)}/{len(paths)} images with a face", flush=True)
        pair_x = {m: np.array([float(emb[p.a][m] @ emb[p.b][m]) if emb[p.a] is not None and emb[p.b] is not None
                               else -1.0 for p in pairs]) for m in ("sface", "dlib")}
        for models in RECOGNIZERS:
            rkey = "+".join(models) + (":flip" if flip else "")
            x = np.column_stack([pair_x[m] for m in models])
            w = metrics.fit_fusion(x, labels)
            best_t, best_acc = metrics.best_threshold(x @ w, labels)
            gen, imp = impostor_genuine([vec[m] for m in models], w, ident)
            far_table, tar_table = {}, {}
            for far in FARS:
                t = metrics.threshold_at_far(imp, far)
                if t is not None:
                    far_table[f"{far:g}"] = round(t, 6)
                    tar_table[f"{far:g}"] = round(float(np.mean(gen >= t)), 5)
            table[rkey] = {
                "weights": {m: round(float(v), 6) for m, v in zip(models, w)},
                "best_accuracy": round(best_t, 6),
                "best_accuracy_on_pairs": round(best_acc, 5),
                "far": far_table,
                "tar_at_far_all_pairs": tar_table,
                "genuine_pairs": int(len(gen)),
                "impostor_pairs": int(len(imp)),
            }
            print(rkey, json.dumps(table[rkey]), flush=True)
    out = ROOT / "src" / "vultus" / "data" / "thresholds.json"
    out.write_text(json.dumps({
        "source": "LFW (../shared/data/lfw): weights and best-accuracy threshold from pairs.txt; "
                  "FAR thresholds from all impostor pairs of its 7,701 images; detector yunet, centre face",
        "command": ".venv/bin/python bench/calibrate.py",
        "machine": machine(), "commit": git_rev(), "date": time.strftime("%Y-%m-%d"),
        "recognizers": table}, indent=1) + "\n")
    print(f"wrote {out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
