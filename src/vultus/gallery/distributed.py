"""Batch enrollment and identification spread over a Ray cluster.

The driver (the `vultus` process) reads each image's bytes, skips those already enrolled (by
SHA-256, so a rerun resumes), and sends small batches to Ray tasks that decode, detect and embed on
the cluster's workers; each worker process loads the models once. Results come back as they finish
and are written to the gallery in batches, one transaction each; a face is written only once its
result is back, and the SHA-256 check at write time makes a retried task harmless. A worker killed
mid-task costs only the images of that task, which Ray runs again elsewhere (`max_retries`).

Images travel as bytes, so the workers need no shared file system. The gallery and its index stay
with the driver: identification embeds on the cluster and searches here.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import numpy as np

from ..errors import GalleryError, VultusError
from ..quality import QualityPolicy
from .store import FaceRecord

BATCH = 4  # images per task: small enough that a lost worker costs little
IN_FLIGHT_PER_CPU = 2
WRITE_EVERY = 64  # faces per transaction

_PIPELINE: dict[tuple[str, str], Any] = {}


def _ray():
    try:
        import ray
    except ImportError:
        raise GalleryError("--ray needs Ray: pip install 'vultus[ray]'") from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at `address` (host:port), or start a local one for `local`."""
    ray = _ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return ray
    try:
        if address in ("", "local"):
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     object_store_memory=200_000_000, _node_ip_address="127.0.0.2")
        else:
            host = urlsplit(f"//{address}").hostname or ""
            # Ray rewrites 127.0.0.1 to the machine's routable address; other loopback addresses are
            # kept, and a driver on the head's machine must then say which one is its own
            own = {"_node_ip_address": host} if host.startswith("127.") and host != "127.0.0.1" else {}
            ray.init(address=address, log_to_driver=False, **own)
    except VultusError:
        raise
    except Exception as e:
        raise GalleryError(f"cannot join the Ray cluster at {address}: {e}") from None
    return ray


def _embed_task(items: list[tuple[str, bytes]], detector: str, recognizer: str,
                policy: QualityPolicy | None, largest: bool) -> list[dict[str, Any]]:
    """On a worker: decode, detect, embed. Returns one result per item (faces or an error)."""
    from ..gallery.gallery import thumbnail
    from ..io import load_image
    from ..pipeline import Pipeline

    key = (detector, recognizer)
    if key not in _PIPELINE:
        import cv2

        cv2.setNumThreads(1)
        _PIPELINE[key] = Pipeline(detector, recognizer)
    pipe = _PIPELINE[key]
    out = []
    for label, data in items:
        try:
            img = load_image(data, name=label)
            faces = pipe.detect(img)
            if largest:
                if not faces:
                    raise VultusError(f"{label}: no face found")
                face = max(faces, key=lambda f: f.width * f.height)
                problems = policy.problems(face.quality) if policy else []
                if problems:
                    raise VultusError(f"{label}: {'; '.join(problems)}")
                faces = [face]
            faces = pipe.embed(img, faces)
            out.append({"label": label, "faces": [
                {"box": [round(float(v), 1) for v in f.box], "score": f.score, "landmarks": f.landmarks,
                 "quality": f.quality.to_dict() if f.quality else None, "vectors": dict(f.embeddings),
                 "thumbnail": thumbnail(img, f) if largest else None} for f in faces]})
        except VultusError as e:
            out.append({"label": label, "error": str(e).removeprefix(f"{label}: ")})
    return out


def _run(ray: Any, batches: list[list[Any]], detector: str, recognizer: str, policy, largest: bool
         ) -> Iterator[tuple[list[Any], list[dict[str, Any]]]]:
    """Submit batches with a bounded number in flight; yield (batch, results) as they finish."""
    task = ray.remote(num_cpus=1, max_retries=5, retry_exceptions=False)(_embed_task)
    cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)
    pending: dict[Any, list[Any]] = {}
    todo = list(reversed(batches))
    while todo or pending:
        while todo and len(pending) < IN_FLIGHT_PER_CPU * cpus:
            b = todo.pop()
            pending[task.remote([(label, data) for label, data, *_ in b], detector, recognizer, policy,
                                largest)] = b
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)


def enroll_distributed(gallery, people: list[tuple[str, list[Path]]], address: str,
                       policy: QualityPolicy | None, progress: Callable[[int], None] | None = None
                       ) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """Enroll every (person, images) over Ray: {person: (faces enrolled now or before, skipped
    (input, reason))}."""
    ray = connect(address)
    items, counts, skipped = [], {}, {}
    for person, paths in people:
        counts[person] = 0
        for p in paths:
            try:
                data = Path(p).read_bytes()
            except OSError as e:
                skipped.setdefault(person, []).append((str(p), e.strerror or str(e)))
                continue
            sha = hashlib.sha256(data).hexdigest()
            if gallery.store.already_enrolled(person, sha) is not None:
                skipped.setdefault(person, []).append((str(p), "already enrolled"))
                counts[person] += 1
                continue
            items.append((str(p), data, person, sha))
    batches = [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
    buffer: list[tuple[str, None, FaceRecord]] = []
    for batch, results in _run(ray, batches, gallery._detector, gallery.recognizer.key, policy, True):
        for (label, _, person, sha), r in zip(batch, results):
            if "error" in r:
                skipped.setdefault(person, []).append((label, r["error"]))
                continue
            f = r["faces"][0]
            buffer.append((person, None, FaceRecord(label, sha, f["box"], f["quality"],
                                                    {m: np.asarray(v, np.float32) for m, v in f["vectors"].items()},
                                                    f["thumbnail"])))
            counts[person] += 1
        if len(buffer) >= WRITE_EVERY:
            gallery.add_records(buffer)
            buffer.clear()
        if progress:
            progress(len(batch))
    if buffer:
        gallery.add_records(buffer)
    return {person: (counts[person], skipped.get(person, [])) for person, _ in people}


def identify_distributed(gallery, paths: list[Path], address: str, far: float, top_k: int,
                         progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Embed every image on the cluster and search here: one row per face (or per unreadable image,
    with "error"), in the order the work finishes."""
    from ..types import Face

    ray = connect(address)
    items = []
    for p in paths:
        try:
            items.append((str(p), Path(p).read_bytes()))
        except OSError as e:
            yield {"input": str(p), "error": e.strerror or str(e), "kind": "bad_image"}
    batches = [items[i:i + BATCH] for i in range(0, len(items), BATCH)]
    for batch, results in _run(ray, batches, gallery._detector, gallery.recognizer.key, None, False):
        for r in results:
            if "error" in r:
                yield {"input": r["label"], "error": r["error"], "kind": "bad_image"}
                continue
            for i, f in enumerate(r["faces"]):
                face = Face(np.asarray(f["box"], np.float32), f["score"], np.asarray(f["landmarks"]),
                            embeddings={m: np.asarray(v, np.float32) for m, v in f["vectors"].items()})
                yield {"input": r["label"], "face": i, **gallery.search(face, far, top_k).to_dict()}
        if progress:
            progress(len(batch))


class LoopbackCluster:
    """A real multi-node Ray cluster on this machine, for tests, benchmarks and trying things out:
    a head on 127.0.0.2 and worker nodes on 127.0.0.3, .4, ..., each `ray start --block` in its own
    process group with small memory settings. `stop()` ends those nodes and every process they
    started (Ray's workers run in sessions of their own), and nothing else."""

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, timeout: float = 180):
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.2:{self.port}"
        small = [f"--num-cpus={cpus_per_node}", "--object-store-memory=80000000", "--memory=1000000000",
                 "--disable-usage-stats"]
        self.procs: list[subprocess.Popen] = []
        self._start(["--head", "--node-ip-address=127.0.0.2", f"--port={self.port}", "--include-dashboard=false",
                     f"--temp-dir={tempfile.mkdtemp(prefix='vr', dir='/tmp')}", *small])
        deadline = time.time() + timeout
        try:
            self._wait(1, deadline)
            for k in range(1, nodes):
                self._start([f"--address={self.address}", f"--node-ip-address=127.0.0.{2 + k}", *small])
            self._wait(nodes, deadline)
        except BaseException:
            self.stop()
            raise

    def _start(self, args: list[str]) -> None:
        self.procs.append(subprocess.Popen([self.ray, "start", "--block", *args], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def _wait(self, nodes: int, deadline: float) -> None:
        while self.alive_nodes() < nodes:
            if time.time() > deadline:
                raise GalleryError(f"the loopback Ray cluster did not reach {nodes} node(s) in time")
            time.sleep(2)

    def alive_nodes(self) -> int:
        code = (f"import ray; ray.init(address='{self.address}', _node_ip_address='127.0.0.2', "
                "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))")
        try:
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=self.env, timeout=60)
        except subprocess.TimeoutExpired:
            return 0
        return int(p.stdout.split()[-1]) if p.returncode == 0 and p.stdout.split() else 0

    def node_pids(self, node: int) -> list[tuple[int, str]]:
        """(pid, command line) of a node's processes, workers included."""
        return descendants(self.procs[node].pid)

    def stop(self) -> None:
        ours = [pid for p in self.procs for pid, _ in descendants(p.pid)]
        for p in reversed(self.procs):
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
        for p in self.procs:
            p.wait(timeout=30)
        self.procs = []

    def __enter__(self) -> "LoopbackCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of a process and all its descendants, from ps."""
    rows = [line.split(None, 2) for line in subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,
                                                           text=True).stdout.splitlines()]
    children: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        children.setdefault(int(r[1]), []).append((int(r[0]), r[2] if len(r) > 2 else ""))
    out, todo = [(pid, "")], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c[0])
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False
