"""Age-gap evaluation on real FG-NET images: samples read, pairs counted and binned correctly, the
CLI on FG-NET and on a user's CSV with dates."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import dataset
from vultus.ageing.data import load_samples, read_csv
from vultus.ageing.evaluate import GAP_BINS, IMPOSTOR_AGE_WINDOW, evaluate, make_pairs
from vultus.decide import Recognizer
from vultus.errors import VultusError
from vultus.eval.batch import embed_files

SUBJECTS = ("001", "002", "003")  # three children followed into adulthood


@pytest.fixture(scope="module")
def fgnet_small():
    samples = [s for s in load_samples(dataset("fgnet")) if s.person in SUBJECTS]
    emb = embed_files([s.path for s in samples], "yunet", "sface")
    return samples, emb


def test_fgnet_samples():
    samples = load_samples(dataset("fgnet"))
    assert len(samples) == 1002 and len({s.person for s in samples}) == 82
    s = next(s for s in samples if s.path.name == "078A11.JPG")
    assert (s.person, s.age, s.when) == ("078", 11.0, 11.0)


def test_pairs_counted_and_binned(fgnet_small):
    samples, emb = fgnet_small
    assert all(emb[s.path] is not None for s in samples)
    report = evaluate(samples, emb, Recognizer.parse("sface"))
    ages = {p: [s.age for s in samples if s.person == p] for p in SUBJECTS}
    gaps = [abs(a - b) for p in SUBJECTS for a, b in combinations(ages[p], 2)]
    everyone = report.cell("all", "all")
    assert everyone.genuine == len(gaps) == sum(len(a) * (len(a) - 1) // 2 for a in ages.values())
    for name, lo, hi in GAP_BINS:
        assert report.cell("all", name).genuine == sum(lo <= g < hi for g in gaps)
    similar = sum(abs(a - b) <= IMPOSTOR_AGE_WINDOW for p, q in combinations(SUBJECTS, 2)
                  for a in ages[p] for b in ages[q])
    assert everyone.impostor == similar
    children = sum(1 for p in SUBJECTS for a, b in combinations(ages[p], 2) if min(a, b) < 13)
    assert report.cell("under 13", "all").genuine == children
    # the embeddings separate these three people at small gaps, and ageing lowers genuine scores
    assert report.cell("all", "0-2").mean_genuine > report.cell("all", "11+").mean_genuine
    assert [d for d in report.drift if d.group == "all"][0].slope_per_year < 0


def test_make_pairs_orients_by_time(fgnet_small):
    samples, emb = fgnet_small
    rec = Recognizer.parse("sface")
    vec = {"sface": np.stack([emb[s.path]["sface"] for s in samples])}
    pairs = make_pairs(samples, vec, rec)
    young = [s.age for s in samples]
    assert np.nanmin(pairs.enrol_age) == min(young)
    assert np.all(pairs.gap >= 0) and np.all(pairs.enrol_age <= max(young))


def test_csv_dates_and_errors(tmp_path):
    (tmp_path / "ok.csv").write_text("file,person,date,birth\na.jpg,ann,2010-05-01,2004-05-01\n"
                                     "b.jpg,ann,2016-05-01,2004-05-01\nc.jpg,bob,2012,\n")
    rows = read_csv(tmp_path / "ok.csv")
    assert rows[0].path == tmp_path / "a.jpg" and abs(rows[0].age - 6) < 0.01
    assert abs((rows[1].when - rows[0].when) - 6) < 0.01 and rows[2].age is None
    for text, reason in (("file,person\na.jpg,ann\n", "age or date"),
                         ("file,person,age\na.jpg,ann,six\n", "not a number"),
                         ("file,person,date\na.jpg,ann,2010-13-01\n", "not a date"),
                         ("file,person,age,date\na.jpg,ann,5,\nb.jpg,ann,,2010-01-01\n", "one kind per person")):
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(VultusError, match=reason):
            read_csv(tmp_path / "bad.csv")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vultus", *args], capture_output=True, text=True, timeout=300)


def test_cli_on_a_users_csv(tmp_path, fgnet_small):
    samples = [s for s in fgnet_small[0] if s.person != "003"]  # two people keep the subprocess short
    lines = ["file,person,date"] + [f"{s.path},{s.person},{2000 + int(s.age)}-06-01" for s in samples]
    (tmp_path / "mine.csv").write_text("\n".join(lines) + "\n")
    out = run("eval", "ageing", "--csv", str(tmp_path / "mine.csv"), "--json", "--plot", str(tmp_path / "p"))
    assert out.returncode == 0, out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(reports) == 1 and reports[0]["images"] == len(samples)
    groups = {c["group"] for c in reports[0]["cells"]}
    assert groups == {"all"}  # dates without birth dates: gaps, but no age at enrollment
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_cli_errors(tmp_path):
    out = run("eval", "ageing", "--root", str(tmp_path))
    assert out.returncode == 1 and "no FG-NET images" in out.stderr
    (tmp_path / "x.csv").write_text("file,person\n")
    out = run("eval", "ageing", "--csv", str(tmp_path / "x.csv"))
    assert out.returncode == 1 and "age or date" in out.stderr
    assert run("eval", "ageing").returncode == 2
