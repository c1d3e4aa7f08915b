"""LFW 10-fold verification accuracy of every recognizer, run through the CLI's own eval command,
plus the open-set identification figures and the face_recognition baseline on the same pairs.

Run: .venv/bin/python bench/lfw.py        (embeddings are cached in bench/results/cache)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from _common import LFW, RESULTS, ROOT, lfw_embeddings, machine, update_figures, write_section
from vultus.decide import Recognizer
from vultus.eval import metrics

GROUPS = [["sface", "dlib", "sface+dlib"], ["sface:flip", "dlib:flip", "sface+dlib:flip"]]


def cli_eval(recognizers: list[str]) -> list[dict]:
    cmd = [sys.executable, "-m", "vultus", "eval", "pairs", "--pairs", str(LFW / "pairs.txt"), "--root",
           str(LFW / "lfw"), "--pick", "center", "--workers", "2", "--cache", str(RESULTS / "cache"), "--json",
           "--plot", str(ROOT / "docs" / "img" / ("lfw_flip" if "flip" in recognizers[0] else "lfw"))]
    for r in recognizers:
        cmd += ["-r", r]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return [json.loads(x) for x in out.stdout.splitlines()]


def open_set(key: str) -> dict:
    """Gallery: the first image of every LFW person with 2+ images; known probes: their other
    images; unknown probes: every person with a single image. Scores: best gallery match."""
    rec = Recognizer.parse(key)
    paths, emb = lfw_embeddings("sface+dlib" + (":flip" if rec.flip else ""))
    by_person: dict[str, list] = {}
    for p in paths:
        if emb[p] is not None:
            by_person.setdefault(p.parent.name, []).append(emb[p])
    gallery = [(n, v[0]) for n, v in by_person.items() if len(v) > 1]
    names = np.array([n for n, _ in gallery])
    known = [(n, e) for n, v in by_person.items() if len(v) > 1 for e in v[1:]]
    unknown = [v[0] for v in by_person.values() if len(v) == 1]

    def best(probes):
        per = {m: np.stack([e[m] for e in probes]) @ np.stack([g[m] for _, g in gallery]).T for m in rec.models}
        s = rec.fuse(per)
        return s.max(1), names[s.argmax(1)]

    ks, kn = best([e for _, e in known])
    correct = kn == np.array([n for n, _ in known])
    us, _ = best(unknown)
    out = {"gallery": len(gallery), "known_probes": len(known), "unknown_probes": len(unknown),
           "rank1": float(correct.mean())}
    for far in (1e-2, 1e-3):
        t = metrics.threshold_at_far(us, far)  # None: too few unknown probes to measure this FAR
        out[f"dir_at_far_{far:g}"] = None if t is None else float(np.mean(correct & (ks >= t)))
    # what Gallery.search does: FAR 1e-3 per search, the per-comparison FAR scaled by gallery size
    shipped, used = rec.open_set_threshold(1e-3, len(gallery))
    out["shipped_threshold"], out["shipped_comparison_far"] = shipped, used
    out["dir_at_shipped"] = float(np.mean(correct & (ks >= shipped)))
    out["false_alarm_at_shipped"] = float(np.mean(us >= shipped))
    y = np.r_[np.ones(len(ks)), np.zeros(len(us))]
    far, tar, _ = metrics.roc(np.r_[ks, us], y)
    out["auroc_known_vs_unknown"] = metrics.auc(far, tar)
    out["fpr_at_95_tpr"] = float(far[np.searchsorted(tar, 0.95)])
    return out


def baseline_accuracy() -> dict:
    """face_recognition's default pipeline (HOG upsample 1 + dlib ResNet, distance) on the same pairs."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "baseline_fr_lfw.py")], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    t0 = time.time()
    reports = [r for g in GROUPS for r in cli_eval(g)]
    base = baseline_accuracy()
    opens = {k: open_set(k) for k in ("sface", "sface+dlib:flip")}
    rows = ["| recognizer | accuracy (10-fold) | ± std | AUC | TAR @ FAR 1e-3 | EER | pairs with no face |",
            "|---|---|---|---|---|---|---|"]
    for r in reports:
        rows.append(f"| `{r['recognizer']}` | **{r['accuracy_mean']:.2%}** | {r['accuracy_std']:.2%} | {r['auc']:.4f} "
                    f"| {r['tar_at_far_1e-3']:.2%} | {r['eer']:.2%} | {r['missing_faces']} |")
        if ":" not in r["recognizer"] and "+" not in r["recognizer"]:
            update_figures(r["recognizer"], {"lfw_accuracy": round(r["accuracy_mean"], 4)})
    rows.append(f"| face_recognition 1.3.0 (baseline: HOG + dlib, distance) | **{base['accuracy_mean']:.2%}** | "
                f"{base['accuracy_std']:.2%} | {base['auc']:.4f} | {base['tar_at_far_1e-3']:.2%} | {base['eer']:.2%} "
                f"| {base['missing_faces']} |")
    best = max(reports, key=lambda r: r["accuracy_mean"])
    orows = ["| recognizer | gallery | known / unknown probes | rank-1 | DIR @ FAR 1e-2 | DIR @ FAR 1e-3 "
             "| AUROC known vs unknown | FPR @ 95% TPR | vultus decision at --far 1e-3: DIR / unknowns accepted |",
             "|---|---|---|---|---|---|---|---|---|"]

    def pct(v):
        return "n/a (too few unknown probes)" if v is None else f"{v:.2%}"

    for k, o in opens.items():
        orows.append(f"| `{k}` | {o['gallery']} | {o['known_probes']} / {o['unknown_probes']} | {o['rank1']:.2%} | "
                     f"{pct(o['dir_at_far_0.01'])} | {pct(o['dir_at_far_0.001'])} | "
                     f"{o['auroc_known_vs_unknown']:.4f} | {o['fpr_at_95_tpr']:.2%} | "
                     f"{o['dir_at_shipped']:.2%} / {o['false_alarm_at_shipped']:.2%} (threshold {o['shipped_threshold']:.3f}, "
                     f"FAR {o['shipped_comparison_far']:g} per comparison) |")
    md = f"""## LFW verification (10-fold, View 2)

Command: `.venv/bin/python bench/lfw.py` (calls `vultus eval pairs --pairs pairs.txt --root lfw --pick center`
for each recognizer, then the baseline script `bench/baseline_fr_lfw.py`). Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}.
Data: `../shared/data/lfw` (the 150 px web copies, centre-cropped to 118x118; unaligned). Protocol: the threshold
and the fusion weights are learned on 9 folds and tested on the 10th; mean and standard deviation over the 10 folds.
A pair with an image where no face was found counts as a reject.

{chr(10).join(rows)}

Best configuration: `{best['recognizer']}` at {best['accuracy_mean']:.2%} (goal: 99.7%).
ROC and DET curves (written by the run): ![ROC](img/lfw_roc.png) ![ROC with flip](img/lfw_flip_roc.png)
DET: [img/lfw_det.png](img/lfw_det.png), [img/lfw_flip_det.png](img/lfw_flip_det.png).

### Open-set identification on LFW

{chr(10).join(orows)}

Gallery: first image of each LFW person with two or more images (of the 7,701 pair images); known probes: the
other images of those people; unknown probes: the people with a single image. DIR = detected and correctly
identified rate at the threshold that lets through the given fraction of unknown probes. The last column is what
`Gallery.search` decides with its default `--far 1e-3`: the shipped threshold for a per-comparison FAR of
1e-3 / gallery size (clamped to the strictest calibrated FAR). Run time {time.time() - t0:.0f} s.
"""
    write_section("lfw", md)
    (RESULTS / "lfw.json").write_text(json.dumps({"reports": reports, "baseline": base, "open_set": opens}, indent=1))
    print(md)


if __name__ == "__main__":
    main()
