"""Ray batch enrollment and identification on a real loopback cluster against one process.

Enrollment of LFW people (a folder per person): `vultus enroll --from-dir` in one process, then with
`--ray` on a cluster of 1 and of 2 single-CPU worker nodes (head 127.0.0.2, worker 127.0.0.3). Then
identification of a folder of images (LFW, then UTKFace to reach --identify-images) through Ray on 2
nodes against one process. Each timing is the whole command (model loading in the workers included);
the cluster is up before the clock starts.

Run: nice -n 10 .venv/bin/python bench/ray_batch.py --images 1000 --identify-images 10000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, git_rev, machine, write_section

from vultus.gallery.distributed import LoopbackCluster

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}


def vultus(*args) -> float:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "vultus", *map(str, args)], capture_output=True, text=True, env=ENV)
    if p.returncode not in (0, 1):
        raise SystemExit(f"vultus {' '.join(map(str, args))} failed:\n{p.stderr[-2000:]}")
    return time.perf_counter() - t


def people_dir(root: Path, n_images: int) -> int:
    """Links to LFW images, a folder per person, about n_images in all."""
    count = 0
    for d in sorted((DATA / "lfw" / "lfw").iterdir()):
        if count >= n_images:
            break
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.glob("*.jpg"))[:n_images - count]:
            (root / d.name / f.name).symlink_to(f)
            count += 1
    return count


def flat_dir(root: Path, n_images: int) -> int:
    root.mkdir(parents=True)
    files = sorted((DATA / "lfw" / "lfw").glob("*/*.jpg")) + sorted((DATA / "utkface").rglob("*.jpg"))
    for k, f in enumerate(files[:n_images]):
        (root / f"{k:05d}.jpg").symlink_to(f)
    return min(n_images, len(files))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--identify-images", type=int, default=1000)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="raybench"))
    try:
        n = people_dir(tmp / "people", a.images)
        m = flat_dir(tmp / "probes", a.identify_images)
        rows, load = {}, {}
        rows["one process"] = vultus("enroll", "--gallery", tmp / "one.db", "--from-dir", tmp / "people", "--json")
        load["one process"] = os.getloadavg()[0]
        for nodes in (1, 2):
            with LoopbackCluster(nodes=nodes) as c:
                key = f"Ray, {nodes} worker process{'es' if nodes > 1 else ''}"
                rows[key] = vultus("enroll", "--gallery", tmp / f"ray{nodes}.db", "--from-dir", tmp / "people",
                                   "--ray", c.address, "--json")
                load[key] = os.getloadavg()[0]
                if nodes == 2:
                    ident_ray = vultus("identify", tmp / "probes", "--gallery", tmp / "ray2.db", "--ray", c.address,
                                       "--json")
        ident_one = vultus("identify", tmp / "probes", "--gallery", tmp / "one.db", "--json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows["one process"]
    lines = "\n".join(f"| {k} | {v:.1f} | {n / v:.1f} | {base / v:.2f}x | {load[k]:.1f} |" for k, v in rows.items())
    md = f"""## Ray: batch enrollment and identification on a loopback cluster

Command: `nice -n 10 .venv/bin/python bench/ray_batch.py --images {a.images} --identify-images {a.identify_images}`.
Machine: {machine()}, shared with other jobs (load average after each run in the table). Commit {git_rev()},
{time.strftime('%Y-%m-%d')}. Each node is `ray start` with one CPU (head 127.0.0.2, worker 127.0.0.3);
times are whole commands, including model loading in every worker process.

Enrollment of {n} LFW images ({a.images} asked), a folder per person:

| how | seconds | images/s | vs one process | load |
|---|---|---|---|---|
{lines}

Identification of {m} images (LFW, then UTKFace): one process {ident_one:.1f} s ({m / ident_one:.1f} img/s),
Ray with 2 worker processes {ident_ray:.1f} s ({m / ident_ray:.1f} img/s), {ident_one / ident_ray:.2f}x.
On one 2-core machine two worker processes compete with the driver and with each other for the same
cores; the speed-up that matters comes from adding machines.
"""
    write_section("ray", md)
    print(md)


if __name__ == "__main__":
    main()
