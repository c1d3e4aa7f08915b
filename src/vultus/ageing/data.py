"""Dated face images: FG-NET's folder (`images/SSSAyy[ab].JPG`) or a CSV of file, person, age or date."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..errors import VultusError

FGNET_NAME = re.compile(r"(\d{3})A(\d{2})([a-z]?)\.jpe?g$", re.I)
DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class Sample:
    """One image of one person. `when` is the time axis in years (the age, or the date as a
    fractional year when only dates are known); `age` is None when no age can be derived."""

    path: Path
    person: str
    when: float
    age: float | None


def load_samples(root: Path | None = None, csv_file: Path | None = None) -> list[Sample]:
    """FG-NET from `root`, or the rows of `csv_file` (relative files resolved against `root`,
    or else against the CSV's folder)."""
    if csv_file is not None:
        return read_csv(Path(csv_file), Path(root) if root else None)
    if root is None:
        raise VultusError("give a data folder (FG-NET layout) or a CSV of file, person, age or date")
    return read_fgnet(Path(root))


def read_fgnet(root: Path) -> list[Sample]:
    if not root.is_dir():
        raise VultusError(f"{root}: not a folder")
    folder = root / "images" if (root / "images").is_dir() else root
    out = []
    for p in sorted(folder.iterdir()):
        m = FGNET_NAME.match(p.name)
        if m:
            out.append(Sample(p, m.group(1), float(m.group(2)), float(m.group(2))))
    if not out:
        raise VultusError(f"{root}: no FG-NET images (named like 001A02.JPG: subject, 'A', age); "
                          "for other data give --csv with columns file, person, and age or date")
    return out


def _parse_date(text: str, where: str) -> date:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            return date(int(text), 7, 1)  # a year alone: its middle
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return date(int(text[:4]), int(text[5:]), 15)
        return date.fromisoformat(text)
    except ValueError:
        raise VultusError(f"{where}: {text!r} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)") from None


def _years(d: date) -> float:
    return d.toordinal() / DAYS_PER_YEAR


def read_csv(csv_file: Path, root: Path | None = None) -> list[Sample]:
    """Columns: `file`, `person`, and `age` (years) or `date` (YYYY-MM-DD); an optional `birth`
    date turns dates into ages. Extra columns are ignored."""
    if not csv_file.is_file():
        raise VultusError(f"{csv_file}: no such CSV file")
    base = root or csv_file.parent
    with csv_file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower() for c in reader.fieldnames or []}
        if not {"file", "person"} <= cols or not cols & {"age", "date"}:
            raise VultusError(f"{csv_file}: needs the columns file, person, and age or date; "
                              f"found {', '.join(sorted(cols)) or 'no header'}")
        out: list[Sample] = []
        axes: dict[str, str] = {}
        for n, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            where = f"{csv_file}, line {n}"
            if not row.get("file") or not row.get("person"):
                raise VultusError(f"{where}: empty file or person")
            path = Path(row["file"]) if Path(row["file"]).is_absolute() else base / row["file"]
            age = None
            if row.get("age"):
                try:
                    age = float(row["age"])
                except ValueError:
                    raise VultusError(f"{where}: age {row['age']!r} is not a number of years") from None
                if not 0 <= age < 130:
                    raise VultusError(f"{where}: age {age:g} is outside 0-130 years")
            when = age
            if row.get("date"):
                taken = _parse_date(row["date"], where)
                when = _years(taken)
                if row.get("birth"):
                    age = (taken.toordinal() - _parse_date(row["birth"], where).toordinal()) / DAYS_PER_YEAR
            if when is None:
                raise VultusError(f"{where}: neither an age nor a date")
            axis = "date" if row.get("date") else "age"
            if axes.setdefault(row["person"], axis) != axis:
                raise VultusError(f"{where}: {row['person']!r} has rows with a date and rows with only an age; "
                                  "give one kind per person (gaps are measured along it)")
            out.append(Sample(path, row["person"], float(when), age))
    if not out:
        raise VultusError(f"{csv_file}: no rows")
    return out
