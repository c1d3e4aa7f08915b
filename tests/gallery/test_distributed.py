"""Ray batch enrollment and identification on a real two-node cluster on loopback (a head on
127.0.0.2 and a worker node on 127.0.0.3, as ../shared/STACK.md shows), with a worker killed midway."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import dataset

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (extra: ray)")]

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster():
    from vultus.gallery.distributed import LoopbackCluster

    with LoopbackCluster(nodes=2) as c:
        yield c


def _people(root: Path, lfw: Path, n_people: int = 8, per: int = 2) -> int:
    names = sorted(d for d in (lfw / "lfw").iterdir() if len(list(d.glob("*.jpg"))) >= per)[:n_people]
    for d in names:
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:per]:
            (root / d.name / f.name).write_bytes(f.read_bytes())
    return n_people * per


def _kill_one_task_worker(cluster, deadline: float) -> bool:
    """SIGKILL a worker process of the worker node while it runs an embedding task."""
    while time.time() < deadline:
        for pid, args in cluster.node_pids(1):
            if "_embed_task" in args:
                time.sleep(0.3)  # let it get into its batch
                os.kill(pid, signal.SIGKILL)
                return True
        time.sleep(0.1)
    return False


def test_enroll_and_identify_on_a_loopback_cluster_with_a_worker_killed(cluster, tmp_path):
    lfw = dataset("lfw")
    images = _people(tmp_path / "people", lfw)
    g = tmp_path / "g.db"
    cmd = [sys.executable, "-m", "vultus", "enroll", "--gallery", str(g), "--from-dir", str(tmp_path / "people"),
           "--ray", cluster.address, "--force", "--json"]  # --force: LFW's small faces pass the quality gate
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        killed = _kill_one_task_worker(cluster, time.time() + 120)
        out, errs = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0 and "Traceback" not in errs, errs
    assert killed, "no embedding task ran on the worker node"
    rows = [json.loads(x) for x in out.splitlines()]
    skipped = sum(len(r["skipped"]) for r in rows)
    db = sqlite3.connect(g)
    per_source = db.execute("SELECT source, COUNT(*) FROM faces GROUP BY source").fetchall()
    db.close()
    # every image is enrolled exactly once, or reported skipped with its reason; none lost, none doubled
    assert all(c == 1 for _, c in per_source) and len(per_source) + skipped == images
    assert sum(r["faces"] for r in rows) == len(per_source) >= images // 2  # the rest: no face found

    again = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)  # a rerun resumes
    assert again.returncode == 0
    reasons = [s["reason"] for r in map(json.loads, again.stdout.splitlines()) for s in r["skipped"]]
    assert reasons.count("already enrolled") == len(per_source) and len(reasons) == images
    db = sqlite3.connect(g)
    assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == len(per_source)
    db.close()

    probe = next((tmp_path / "people").iterdir())
    p = subprocess.run([sys.executable, "-m", "vultus", "identify", str(probe), "--gallery", str(g),
                        "--ray", cluster.address, "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr
    found = [json.loads(x) for x in p.stdout.splitlines()]
    assert found and all(r["identity"] == probe.name for r in found if r["face"] == 0)
