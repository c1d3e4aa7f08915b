"""Labelled faces and their documented, seeded splits.

- UTKFace (`utkface/images/<age>_<gender>_<race>_<time>.jpg.chip.jpg`; gender 0 male / 1 female;
  race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others): split 70/15/15 within every stratum
  (age group x gender x race, the 90 strata the shared subset was drawn with), so the three splits
  keep the same mix. Strata too small to split stay in train.
- LFW gender labels (`lfw/gender/lfw_gender.csv`, M/F): split 80/10/10 by person, so nobody's
  photos are on two sides; one photo per person is used.
- FG-NET (`fgnet/images/<subject>A<age>[ab].JPG`): never trained on, out-of-domain age test only.

`python -m training.attributes.data` writes the splits to `training/attributes/splits/*.csv`
(committed; the bench and training read them from there).
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from vultus.models.analyze.attributes import age_group_index

from .config import DATA, LFW_FRACTIONS, SEED, SPLITS, UTK_FRACTIONS

UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_\d+\.jpg\.chip\.jpg$")
FGNET_NAME = re.compile(r"^(\d{3})A(\d{2})([ab]?)\.JPG$", re.I)
UNKNOWN = -1  # a label the source does not give (LFW: age and race)


@dataclass(frozen=True)
class Sample:
    path: Path
    source: str  # utkface | lfw | fgnet
    split: str  # train | val | test
    age: float = UNKNOWN  # years
    gender: int = UNKNOWN  # 0 male, 1 female (UTKFace's coding)
    race: int = UNKNOWN  # UTKFace's 5 classes
    person: str = ""


def utkface_labels() -> list[tuple[Path, int, int, int]]:
    out = []
    for p in sorted((DATA / "utkface" / "images").glob("*.jpg")):
        m = UTK_NAME.match(p.name)
        if m:
            out.append((p, int(m[1]), int(m[2]), int(m[3])))
    return out


def _split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Test and validation get their rounded share (none when the group is too small to share)."""
    test = round(n * fractions["test"]) if n >= 3 else 0
    val = round(n * fractions["val"]) if n >= 3 else 0
    return {"test": test, "val": val, "train": n - test - val}


def make_utkface_split() -> dict[str, str]:
    strata: dict[tuple, list[Path]] = defaultdict(list)
    for path, age, gender, race in utkface_labels():
        strata[(age_group_index(age), gender, race)].append(path)
    rng = random.Random(SEED)
    split = {}
    for key in sorted(strata):
        files = sorted(strata[key])
        rng.shuffle(files)
        counts = _split_counts(len(files), UTK_FRACTIONS)
        bounds = [("test", counts["test"]), ("val", counts["val"]), ("train", counts["train"])]
        i = 0
        for name, k in bounds:
            for p in files[i:i + k]:
                split[p.name] = name
            i += k
    return split


def lfw_labels() -> list[tuple[Path, str, int]]:
    root = DATA / "lfw"
    with open(root / "gender" / "lfw_gender.csv", newline="") as f:
        return [(root / "lfw" / r["path"], r["path"].split("/")[0], 0 if r["gender"] == "M" else 1)
                for r in csv.DictReader(f)]


def make_lfw_split() -> dict[str, str]:
    people = sorted({person for _, person, _ in lfw_labels()})
    random.Random(SEED).shuffle(people)
    n_test, n_val = round(len(people) * LFW_FRACTIONS["test"]), round(len(people) * LFW_FRACTIONS["val"])
    return {p: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, p in enumerate(people)}


def write_splits() -> None:
    SPLITS.mkdir(parents=True, exist_ok=True)
    for name, split, column in (("utkface", make_utkface_split(), "file"), ("lfw", make_lfw_split(), "person")):
        with open(SPLITS / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([column, "split"])
            w.writerows(sorted(split.items()))


def _read_split(name: str) -> dict[str, str]:
    with open(SPLITS / f"{name}.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return dict(rows)


def utkface() -> list[Sample]:
    split = _read_split("utkface")
    return [Sample(p, "utkface", split[p.name], float(age), gender, race)
            for p, age, gender, race in utkface_labels()]


def lfw() -> list[Sample]:
    """One photo per person (the first by name): no person weighs more than another, and the
    feature cache stays small enough to build on two shared cores."""
    split, seen, out = _read_split("lfw"), set(), []
    for p, person, gender in sorted(lfw_labels()):
        if person not in seen:
            seen.add(person)
            out.append(Sample(p, "lfw", split[person], gender=gender, person=person))
    return out


def fgnet() -> list[Sample]:
    out = []
    for p in sorted((DATA / "fgnet" / "images").iterdir()):
        m = FGNET_NAME.match(p.name)
        if m:
            out.append(Sample(p, "fgnet", "test", age=float(m[2]), person=m[1]))
    return out


#: the cached sources, each with its own folder of arrays (rows in the order of these lists)
SOURCES = {"utkface": utkface, "fgnet": fgnet, "lfw": lfw}


if __name__ == "__main__":
    write_splits()
    for name in ("utkface", "lfw"):
        split = _read_split(name)
        print(name, {s: sum(v == s for v in split.values()) for s in ("train", "val", "test")})
