"""Video jobs: uploads saved under a folder the server made, run one at a time in a background thread.

One worker is the right number on a small CPU: a video already keeps the models busy, and a second
one would only halve the speed of both. The queue is bounded so a burst of uploads gets a clear
503 instead of a disk full of waiting files. Results stay in memory until the job is deleted or the
server stops (the newest `keep` finished jobs are kept); the uploaded file is deleted as soon as the
job ends, whatever the outcome.

A server killed with SIGKILL (or by a power cut) cannot clean up, so each server holds an exclusive
lock on a file in its folder for as long as it lives, and a starting server removes every jobs folder
whose lock it can take: its owner is gone.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("vultus.service")

JOBS_PREFIX = "vultus-jobs-"
LOCK_NAME = ".owner.lock"
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".gif"}


class Cancelled(Exception):
    pass


class QueueFull(Exception):
    pass


@dataclass
class Job:
    id: str
    owner: str  # the key id that uploaded it; only it (or an admin) may see the job
    filename: str  # the client's base name, for display only
    path: Path  # where the server saved the upload
    options: dict[str, Any]
    status: str = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        progress = None
        if self.status == "done":
            progress = 1.0
        elif self.frames_total:
            progress = round(min(1.0, self.frames_done / self.frames_total), 4)
        return {"id": self.id, "status": self.status, "filename": self.filename, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "progress": progress, "created_at": round(self.created_at, 3),
                "started_at": self.started_at, "finished_at": self.finished_at, "error": self.error,
                "result": f"/v1/video/jobs/{self.id}/result" if self.status == "done" else None}


class JobManager:
    """`run(job, progress)` does the work; it is `vultus.video.analyze_video` in the server."""

    def __init__(self, run: Callable[[Job, Callable[[int, int | None], None]], dict[str, Any]],
                 max_queued: int = 4, keep: int = 50, root: str | Path | None = None):
        self._run = run
        root = Path(root or tempfile.gettempdir())
        remove_abandoned(root)
        self.dir = Path(tempfile.mkdtemp(prefix=JOBS_PREFIX, dir=root))
        self._owner = open(self.dir / LOCK_NAME, "w")  # noqa: SIM115  (held until close, or death)
        fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_queued)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep
        self._thread = threading.Thread(target=self._work, name="vultus-video-jobs", daemon=True)
        self._thread.start()

    def new_path(self, filename: str) -> Path:
        """A fresh file in the server's folder; only the suffix comes from the client, from a fixed list."""
        suffix = Path(filename).suffix.lower()
        return self.dir / f"{secrets.token_hex(8)}{suffix if suffix in VIDEO_SUFFIXES else '.bin'}"

    def submit(self, owner: str, filename: str, path: Path, options: dict[str, Any]) -> Job:
        job = Job(secrets.token_hex(8), owner, filename, path, options)
        with self._lock:
            self._jobs[job.id] = job
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self._jobs.pop(job.id, None)
            path.unlink(missing_ok=True)
            raise QueueFull(f"{self._queue.maxsize} video jobs are already waiting; try again later") from None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.created_at)

    def delete(self, job_id: str) -> None:
        """Cancel a queued or running job and forget it."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job:
            job.cancel.set()
            if job.status == "queued":
                job.path.unlink(missing_ok=True)

    def close(self, timeout: float = 10.0) -> None:
        for job in self.list():
            job.cancel.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout)
        shutil.rmtree(self.dir, ignore_errors=True)
        self._owner.close()

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.cancel.is_set():
                job.status = "cancelled"
                job.path.unlink(missing_ok=True)
                continue
            job.status, job.started_at = "running", time.time()

            def progress(done: int, total: int | None, job: Job = job) -> None:
                job.frames_done, job.frames_total = int(done), (int(total) if total else None)
                if job.cancel.is_set():
                    raise Cancelled()  # stops the decode loop at the next frame

            try:
                job.result = self._run(job, progress)
                job.status = "done"
            except Cancelled:
                job.status = "cancelled"
            except Exception as e:  # a bad video is the user's problem; anything else, ours: log it
                from ..errors import VultusError

                job.status = "failed"
                # the client's file name, never the server's path
                job.error = (str(e).replace(str(job.path), job.filename) if isinstance(e, VultusError)
                             else f"internal error ({type(e).__name__})")
                if not isinstance(e, VultusError):
                    log.exception("video job %s failed", job.id)
            finally:
                job.finished_at = time.time()
                job.path.unlink(missing_ok=True)
                self._prune()

    def _prune(self) -> None:
        with self._lock:
            done = sorted((j for j in self._jobs.values() if j.finished_at), key=lambda j: j.finished_at or 0)
            for j in done[:max(0, len(done) - self._keep)]:
                self._jobs.pop(j.id, None)


def remove_abandoned(root: Path) -> list[Path]:
    """Delete the jobs folders under `root` whose server is gone (its lock is free); return them.

    A folder without a lock file is someone's that is being created right now (the lock follows
    `mkdtemp` at once), unless it is older than a minute."""
    removed = []
    for folder in root.glob(f"{JOBS_PREFIX}*"):
        lock = folder / LOCK_NAME
        try:
            if not lock.exists():
                if time.time() - folder.stat().st_mtime > 60:
                    shutil.rmtree(folder)
                    removed.append(folder)
                continue
            with open(lock) as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while the owner lives
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:  # alive, another user's, or already gone
            continue
    if removed:
        log.info("removed %d video upload folder(s) left by servers that were killed", len(removed))
    return removed
