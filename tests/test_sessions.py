"""Virtual camera detection from session metadata: features, the novelty model, the shipped model,
labelled session files and `vultus vcd train|check`. (The real-browser path is in
tests/service/test_liveness_browser.py.)"""

from __future__ import annotations

import copy
import json
import sys
import numpy as np
import pytest

from vultus.errors import ModelError
from vultus.models import registry
from vultus.models.registry import Task
from vultus.sessions import (FEATURE_NAMES, LABEL_FEATURES, NoveltyModel, SessionError, check_session, feature_matrix, features,
                             read_sessions)

from .conftest import ROOT, vultus

sys.path.insert(0, str(ROOT))
from training.vcd import profiles  # noqa: E402  (the documented authentic profiles)


@pytest.fixture(scope="module")
def authentic() -> list[dict]:
    return profiles.generate(30, seed=7)


def virtual_camera(session: dict) -> dict:
    """An authentic-looking session changed the way virtual camera software shows: its own label,
    no USB id, no image controls, noise-free frames repeated pixel for pixel."""
    s = copy.deepcopy(session)
    s["track"]["label"] = "OBS Virtual Camera"
    s["track"]["capabilities"] = {k: v for k, v in s["track"]["capabilities"].items()
                                  if k in ("width", "height", "frameRate", "aspectRatio", "deviceId", "groupId")}
    s["image"]["noise_sigma"]["p50"] = 0.02
    s["image"]["duplicate_share"] = 0.5
    return s


def test_features_are_named_and_finite_for_a_full_session(authentic):
    x = features(authentic[0])
    assert x.shape == (len(FEATURE_NAMES),)
    assert np.isfinite(x).all()


def test_malformed_sessions_are_user_errors():
    with pytest.raises(SessionError, match="not valid JSON"):
        check_session("{nope")
    with pytest.raises(SessionError, match="version"):
        check_session({"version": 9})
    with pytest.raises(SessionError, match="missing 'frames'"):
        check_session({"version": 1, "track": {}, "image": {}})


def test_shipped_model_accepts_authentic_and_flags_virtual(authentic):
    check = registry.load("vcd", Task.SOURCE_CHECK)
    verdicts = [check.check(s) for s in authentic]
    assert np.mean([v.genuine for v in verdicts]) >= 0.95  # profiles it was fitted to (other draws)
    fake = check.check(virtual_camera(authentic[0]))
    assert not fake.genuine and fake.score > fake.threshold
    top = [e.feature for e in fake.explanations[:4]]
    assert "label_virtual_word" in top  # the explanation names what gave it away
    d = fake.to_dict()
    assert d["genuine"] is False and d["explanations"][0]["meaning"]


def test_label_blind_model_still_sees_a_renamed_virtual_camera(authentic):
    x = feature_matrix(authentic)
    model = NoveltyModel.fit(x, drop=LABEL_FEATURES)
    model.calibrate(x)
    renamed = virtual_camera(authentic[1])
    renamed["track"]["label"] = authentic[1]["track"]["label"]  # the attacker copies a real camera's name
    assert not model.verdict(renamed).genuine


def test_model_file_round_trip_and_bad_files(tmp_path, authentic):
    x = feature_matrix(authentic)
    model = NoveltyModel.fit(x)
    model.calibrate(x)
    again = NoveltyModel.from_json(model.to_json())
    assert np.allclose(again.scores(x[:5]), model.scores(x[:5]), atol=1e-3)
    with pytest.raises(SessionError, match="not a vultus VCD model"):
        NoveltyModel.from_json(json.dumps({"kind": "other"}))
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(ModelError):
        registry.create("vcd", Task.SOURCE_CHECK, model=bad)


def test_read_sessions_labels(tmp_path, authentic):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"label": "authentic", "session": s}) for s in authentic[:3]))
    (tmp_path / "bare.json").write_text(json.dumps(authentic[3]))
    with pytest.raises(SessionError, match="label must be one of"):
        read_sessions([tmp_path])
    items = read_sessions([tmp_path], "injected")
    assert sorted(lab for lab, _ in items) == ["authentic"] * 3 + ["injected"]
    with pytest.raises(SessionError, match="no such file"):
        read_sessions([tmp_path / "missing.json"])


def test_vcd_train_and_check_cli(tmp_path, authentic):
    data = tmp_path / "sessions.jsonl"
    lines = [{"label": "authentic", "session": s} for s in authentic]
    lines += [{"label": "injected", "session": virtual_camera(s)} for s in authentic[:5]]
    data.write_text("\n".join(map(json.dumps, lines)))
    model = tmp_path / "model.json"
    out = json.loads(vultus("vcd", "train", data, "--out", model, "--json").stdout)
    assert out["authentic"] == len(authentic) and out["injected"] == 5 and out["detection_rate"] == 1.0
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps(virtual_camera(authentic[2])))
    rows = [json.loads(x) for x in vultus("vcd", "check", fake, "--model", model, "--json").stdout.splitlines()]
    assert rows[0]["genuine"] is False
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(map(json.dumps, lines[:3])))
    assert "at least 20" in vultus("vcd", "train", few, "--out", tmp_path / "m2.json", ok=1).stderr
    assert not (tmp_path / "m2.json").exists()
