"""Ray batch enrollment and identification on a real two-node cluster on loopback (a head on
127.0.0.2 and a worker node on 127.0.0.3, as ../shared/STACK.md shows), with a worker killed midway."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import dataset

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (extra: ray)")]

RAY = Path(sys.executable).with_name("ray")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
SMALL = ["--num-cpus=1", "--object-store-memory=80000000", "--memory=1000000000", "--disable-usage-stats"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """Head and worker node, each `ray start --block` in its own process group, stopped by group."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="vr", dir="/tmp")
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.2", f"--port={port}",
                             "--include-dashboard=false", f"--temp-dir={temp}", *SMALL], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [head]
    try:
        deadline = time.time() + 180
        while not _ray_nodes(port) and time.time() < deadline:
            time.sleep(2)
        worker = subprocess.Popen([RAY, "start", "--block", f"--address=127.0.0.2:{port}",
                                   "--node-ip-address=127.0.0.3", *SMALL], env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(worker)
        while _ray_nodes(port) < 2 and time.time() < deadline:
            time.sleep(2)
        if _ray_nodes(port) < 2:
            pytest.fail("the two-node Ray cluster did not come up within 180 s")
        yield {"address": f"127.0.0.2:{port}", "worker_pid": worker.pid}
    finally:  # stop our own nodes and everything they started (workers run in sessions of their own)
        ours = [pid for p in procs for pid, _ in _descendants(p.pid)]
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(pid) for pid in ours):
            time.sleep(0.5)
        for pid in ours:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=30)


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of a process and all its descendants, from ps."""
    rows = [line.split(None, 2) for line in subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                                                           text=True).stdout.splitlines()]
    children: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        children.setdefault(int(r[1]), []).append((int(r[0]), r[2] if len(r) > 2 else ""))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c[0])
    return [(pid, "")] + out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _ray_nodes(port: int) -> int:
    code = (f"import ray; ray.init(address='127.0.0.2:{port}', _node_ip_address='127.0.0.2', log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    except subprocess.TimeoutExpired:
        return 0  # not up yet (or a very busy machine): the caller polls until its deadline
    return int(p.stdout.split()[-1]) if p.returncode == 0 and p.stdout.split() else 0


def _people(root: Path, lfw: Path, n_people: int = 10, per: int = 3) -> int:
    names = sorted(d for d in (lfw / "lfw").iterdir() if len(list(d.glob("*.jpg"))) >= per)[:n_people]
    for d in names:
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:per]:
            (root / d.name / f.name).write_bytes(f.read_bytes())
    return n_people * per


def _kill_one_task_worker(node_pid: int, deadline: float) -> bool:
    """SIGKILL a worker process of our worker node while it runs an embedding task."""
    while time.time() < deadline:
        for pid, args in _descendants(node_pid):
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
           "--ray", cluster["address"], "--json"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        killed = _kill_one_task_worker(cluster["worker_pid"], time.time() + 120)
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
    assert sum(r["faces"] for r in rows) == len(per_source) >= images // 2  # the rest: refused by quality checks

    again = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)  # a rerun resumes
    assert again.returncode == 0
    reasons = [s["reason"] for r in map(json.loads, again.stdout.splitlines()) for s in r["skipped"]]
    assert reasons.count("already enrolled") == len(per_source) and len(reasons) == images
    db = sqlite3.connect(g)
    assert db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == len(per_source)
    db.close()

    probe = next((tmp_path / "people").iterdir())
    p = subprocess.run([sys.executable, "-m", "vultus", "identify", str(probe), "--gallery", str(g),
                        "--ray", cluster["address"], "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 0, p.stderr
    found = [json.loads(x) for x in p.stdout.splitlines()]
    assert found and all(r["identity"] == probe.name for r in found if r["face"] == 0)
