"""Figures by age group, gender and ethnicity for the third-party models vultus ships, written into
their model cards (docs/models/*.md) and docs/benchmarks.md.

- Detection rate of every detector on UTKFace (2,783 single-face crops, padded by half their size
  on every side so the detector sees context) and FG-NET (1,002 photos), by group.
- Recognizers: false accepts at the shipped FAR 1e-3 threshold among *different* people of the same
  group (UTKFace: every image is a different person; LFW: genders from lfw/gender), and true
  accepts of the same person by age (FG-NET genuine pairs, by the younger photo's age) and gender
  (LFW genuine pairs).

Run: .venv/bin/python bench/fairness.py   (embeddings cached in bench/results/cache)
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from _common import DATA, LFW, RESULTS, ROOT, git_rev, lfw_embeddings, machine, write_section
from vultus.decide import Recognizer
from vultus.eval.batch import embed_files
from vultus.io import load_image
from vultus.models import registry

CARDS = ROOT / "docs" / "models"
DETECTORS = ("yunet", "yunet_fast", "centerface")
RECOGNIZERS = ("sface", "dlib")
AGE_GROUPS = ((0, 2, "0-2"), (3, 12, "3-12"), (13, 19, "13-19"), (20, 39, "20-39"), (40, 59, "40-59"), (60, 200, "60+"))
ETHNICITY = ("White", "Black", "Asian", "Indian", "Others")  # UTKFace's race codes 0-4


def age_group(age: int) -> str:
    return next(name for lo, hi, name in AGE_GROUPS if lo <= age <= hi)


def utkface() -> list[tuple[Path, dict]]:
    out = []
    for p in sorted((DATA / "utkface" / "images").glob("*.jpg")):
        age, gender, race = p.name.split("_")[:3]
        out.append((p, {"age group": age_group(int(age)), "gender": ("male", "female")[int(gender)],
                        "ethnicity": ETHNICITY[int(race)]}))
    return out


def fgnet() -> list[tuple[Path, dict]]:
    out = []
    for p in sorted((DATA / "fgnet" / "images").glob("*.JPG")):
        m = re.match(r"(\d{3})A(\d{2})", p.name)
        out.append((p, {"person": m.group(1), "age": int(m.group(2)), "age group": age_group(int(m.group(2)))}))
    return out


def detection_rates(items: list[tuple[Path, dict]], pad: bool) -> dict[str, list[bool]]:
    """Per detector, whether it found a face in each image (padded images for tight crops)."""
    import cv2

    found: dict[str, list[bool]] = {}
    images = []
    for p, _ in items:
        img = load_image(p)
        if pad:
            h, w = img.shape[:2]
            img = cv2.copyMakeBorder(img, h // 2, h // 2, w // 2, w // 2, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        images.append(img)
    for name in DETECTORS:
        det = registry.load(name)
        found[name] = [len(det.detect(img)) > 0 for img in images]
    return found


def by_group(items, values: list, key: str, how) -> dict[str, str]:
    groups = defaultdict(list)
    for (_, labels), v in zip(items, values):
        groups[labels[key]].append(v)
    return {g: how(vs) for g, vs in groups.items()}


def far_within_groups(emb: np.ndarray, groups: list[str], threshold: float) -> dict[str, tuple[float, int]]:
    """False accept rate among all pairs of different people inside each group."""
    out = {}
    for g in sorted(set(groups)):
        idx = np.array([i for i, x in enumerate(groups) if x == g])
        if len(idx) < 2:
            continue
        sims = emb[idx] @ emb[idx].T
        iu = np.triu_indices(len(idx), 1)
        out[g] = (float((sims[iu] >= threshold).mean()), len(iu[0]))
    return out


def main() -> None:
    t0 = time.time()
    sections: dict[str, list[str]] = defaultdict(list)
    utk, fg = utkface(), fgnet()
    # -- detection -----------------------------------------------------------------------------
    utk_found, fg_found = detection_rates(utk, pad=True), detection_rates(fg, pad=False)
    for name in DETECTORS:
        rows = []
        for key in ("age group", "gender", "ethnicity"):
            rates = by_group(utk, utk_found[name], key, lambda v: (float(np.mean(v)), len(v)))
            rows += [f"| UTKFace | {key} | {g} | {r:.3f} | {n} |" for g, (r, n) in sorted(rates.items())]
        rates = by_group(fg, fg_found[name], "age group", lambda v: (float(np.mean(v)), len(v)))
        rows += [f"| FG-NET | age group | {g} | {r:.3f} | {n} |" for g, (r, n) in sorted(rates.items())]
        worst = min((r for r in rows), key=lambda r: float(r.split("|")[4]))
        sections[registry.get(name).card or name].append(
            f"#### Detection rate by group: `{name}`\n\n| data | by | group | detected | images |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nLowest: {worst.strip('| ').replace(' | ', ', ')}.\n")
    # -- recognition ---------------------------------------------------------------------------
    lfw_gender = {}
    with open(LFW / "gender" / "lfw_gender.csv") as f:
        for row in csv.DictReader(f):
            lfw_gender[row["path"]] = {"M": "male", "F": "female"}[row["gender"]]
    for model in RECOGNIZERS:
        rec = Recognizer.parse(model)
        thr, far = rec.threshold(1e-3)
        rows = []
        e_utk = embed_files([p for p, _ in utk], "yunet", model, 1, "largest", cache=RESULTS / "cache")
        keep = [(i, e[model]) for i, ((p, _), e) in enumerate(zip(utk, e_utk.values())) if e is not None]
        emb = np.stack([v for _, v in keep])
        for key in ("age group", "gender", "ethnicity"):
            groups = [utk[i][1][key] for i, _ in keep]
            for g, (rate, n) in far_within_groups(emb, groups, thr).items():
                rows.append(f"| UTKFace, different people | {key} | {g} | FAR {rate:.2e} ({rate / far:.1f}× target) | {n} pairs |")
        paths, lfw_e = lfw_embeddings(model)
        rel = [str(p.relative_to(LFW / "lfw")) for p in paths]
        ok = [i for i, p in enumerate(rel) if lfw_e[paths[i]] is not None and p in lfw_gender]
        emb = np.stack([lfw_e[paths[i]][model] for i in ok])
        person = np.array([rel[i].split("/")[0] for i in ok])
        gender = np.array([lfw_gender[rel[i]] for i in ok])
        for g in ("female", "male"):
            idx = np.nonzero(gender == g)[0]
            sims = emb[idx] @ emb[idx].T
            iu = np.triu_indices(len(idx), 1)
            same = person[idx][iu[0]] == person[idx][iu[1]]
            s = sims[iu]
            rows.append(f"| LFW | gender | {g} | FAR {(s[~same] >= thr).mean():.2e}, TAR {(s[same] >= thr).mean():.3f} "
                        f"| {(~same).sum()} / {same.sum()} pairs |")
        e_fg = embed_files([p for p, _ in fg], "yunet", model, 1, "largest", cache=RESULTS / "cache")
        tar = defaultdict(list)
        for (i, (pa, la)), (j, (pb, lb)) in itertools.combinations(enumerate(fg), 2):
            ea, eb = e_fg[pa], e_fg[pb]
            if la["person"] != lb["person"] or ea is None or eb is None:
                continue
            young = la if la["age"] <= lb["age"] else lb
            tar[young["age group"]].append(float(ea[model] @ eb[model]) >= thr)
        rows += [f"| FG-NET, same person | younger photo's age | {g} | TAR {np.mean(v):.3f} | {len(v)} pairs |"
                 for g, v in sorted(tar.items())]
        sections[registry.get(model).card or model].append(
            f"#### Recognition by group: `{model}` at the shipped FAR {far:g} threshold ({thr:.3f})\n\n"
            "| data | by | group | result | pairs |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    stamp = (f"Command: `.venv/bin/python bench/fairness.py`. Machine: {machine()}. "
             f"Date: {time.strftime('%Y-%m-%d')}, commit {git_rev()}, {time.time() - t0:.0f} s.\n\n")
    for card, parts in sections.items():
        doc = CARDS / card if card.endswith(".md") else CARDS / f"{card}.md"
        write_section("fairness", stamp + "\n".join(parts), doc=doc)
        print(f"wrote {doc}", file=sys.stderr)
    write_section("fairness", "## Figures by age group, gender and ethnicity (shipped third-party models)\n\n"
                  + stamp + "Written into each model's card: " + ", ".join(
                      f"[{c}](models/{c if c.endswith('.md') else c + '.md'})" for c in sections) + ".\n")


if __name__ == "__main__":
    main()
