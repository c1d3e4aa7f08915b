"""What a hostile or careless client did to `vultus serve` (issue 15, service items), before and after.

Both servers run in this one script on the same machine and inputs: "before" is the code of a given
commit (default: the commit before the hardening, d93402c; its `src/` is extracted with `git archive`),
"after" is this checkout. Each case is a real attack on a real server on 127.0.0.1:

- idle flood: 64 and 300 TCP connections that never send a byte, then one keyed request;
- burst: 100 new connections at once asking /v1/health;
- PNG bombs: a 1-bit PNG of a few kB that decodes to 40 MP (20 at once), and to 15 MP (20 at once),
  while a normal identify is sent: its latency, the server's peak memory, the answers;
- 500s and leaks: a face id of 2^63, deeply nested JSON, 21 images in one multipart enroll, a corrupt
  MP4 job (its final status, and whether its error names the server's temp folder), two different keys;
- kill -9 during a video job: upload folders left in the temp folder after the next start.

    nice -n 10 .venv/bin/python bench/hardening.py [--before d93402c]

Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, git_rev, machine, write_section  # noqa: E402

EX = ROOT / "examples" / "images"


def png_bomb(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def source_of(rev: str) -> Path:
    """`src/` of commit `rev`, extracted once under bench/results/."""
    out = RESULTS / f"src-{rev}"
    if not (out / "src" / "vultus").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        data = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(data)).extractall(out)
    return out / "src"


@contextmanager
def server(src: Path | None, tmp: Path, *options: str):
    """`vultus serve` from `src` (None: this checkout) on a fresh gallery with an admin key."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    gallery = tmp / "g.db"
    key = json.loads(subprocess.run([sys.executable, "-c", "from vultus.cli.app import main; main()", "keys",
                                     "create", "--gallery", str(gallery), "--scope", "admin", "--json"],
                                    env=env, capture_output=True, text=True, check=True).stdout)["key"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-c", "from vultus.cli.app import main; main()", "serve", "--gallery",
                             str(gallery), "--port", str(port), "--rate", "0", "--log-level", "warning", *options],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url, key, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The server's resident memory, sampled every 20 ms while the block runs."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self.base = rss_mib(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except OSError:
                return
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timed(fn):
    t0 = time.perf_counter()
    try:
        r = fn()
        return r, time.perf_counter() - t0
    except httpx.HTTPError as e:
        return e, time.perf_counter() - t0


def status_of(r) -> str:
    return str(r.status_code) if isinstance(r, httpx.Response) else type(r).__name__


# -- the cases ---------------------------------------------------------------------------------------
def idle_flood(url: str, key: str, sockets: int) -> str:
    host, port = url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(sockets)]
    try:
        time.sleep(0.5)
        r, t = timed(lambda: httpx.get(url + "/v1/me", headers={"X-API-Key": key}, timeout=30))
        return f"{status_of(r)} in {t * 1000:.0f} ms"
    finally:
        for s in idle:
            s.close()


def burst(url: str) -> str:
    with ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(lambda _: status_of(timed(lambda: httpx.get(url + "/v1/health", timeout=60))[0]),
                              range(100)))
    return f"{codes.count('200')} of 100 answered 200" + (f" ({100 - codes.count('200')} refused)"
                                                         if codes.count("200") < 100 else "")


def bombs(url: str, key: str, pid: int, bomb: bytes, count: int) -> dict[str, str]:
    h = {"X-API-Key": key}
    photo = (EX / "obama3.jpg").read_bytes()
    with PeakMemory(pid) as mem, ThreadPoolExecutor(count + 1) as pool:
        attack = [pool.submit(lambda: timed(lambda: httpx.post(url + "/v1/detect", headers=h, timeout=600,
                                                               files={"image": ("bomb.png", bomb)}))) for _ in range(count)]
        time.sleep(0.3)
        normal, t_normal = timed(lambda: httpx.post(url + "/v1/identify", headers=h, timeout=600,
                                                    files={"image": ("photo.jpg", photo)}))
        results = [f.result() for f in attack]
    codes = sorted({status_of(r) for r, _ in results})
    slowest = max(t for _, t in results)
    return {"answers": f"{'/'.join(codes)}, last after {slowest:.1f} s",
            "identify": f"{status_of(normal)} in {t_normal:.2f} s",
            "memory": f"+{mem.peak - mem.base:.0f} MiB (peak {mem.peak:.0f} MiB)"}


def errors(url: str, key: str) -> dict[str, str]:
    h = {"X-API-Key": key}
    out = {}
    out["thumbnail of face 2^63"] = status_of(httpx.get(f"{url}/v1/faces/{2**63}/thumbnail", headers=h))
    out["DELETE face 2^63"] = status_of(httpx.delete(f"{url}/v1/faces/{2**63}", headers=h))
    deep = '{"name": "x", "images": ["AAAA"], "metadata": %s}' % ("[" * 100_000 + "]" * 100_000)
    out["JSON nested 100,000 deep"] = status_of(httpx.post(url + "/v1/identities", content=deep,
                                                           headers={**h, "Content-Type": "application/json"}))
    files = [("images", (f"{i}.jpg", b"x")) for i in range(21)]
    out["21 images in one multipart enroll"] = status_of(httpx.post(url + "/v1/identities", headers=h,
                                                                    data={"name": "o"}, files=files))
    out["valid X-API-Key + invalid Bearer"] = status_of(httpx.get(url + "/v1/me", headers={
        **h, "Authorization": "Bearer vultus_00000000_nope"}))
    clip = sample_clip()
    moov = clip.rfind(b"moov") - 4  # the index at the end: kept, so the file opens and no frame decodes
    zeroed = clip[:64] + b"\0" * (moov - 64) + clip[moov:]
    for label, data, query in (("5 kB of zeros as an MP4", b"\0" * 5000, ""),
                               ("an MP4 with its frames zeroed", zeroed, ""),
                               ("a real clip, asked from t=1000 s (after its end)", clip, "?start=1000")):
        job = httpx.post(url + "/v1/video/jobs" + query, headers=h, files={"video": ("clip.mp4", data)}).json()
        for _ in range(2400):
            job = httpx.get(f"{url}/v1/video/jobs/{job['id']}", headers=h).json()
            if job["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.25)
        text = json.dumps(job)
        if job["status"] == "done":
            text += httpx.get(f"{url}/v1/video/jobs/{job['id']}/result", headers=h).text
        leak = "vultus-jobs-" in text or tempfile.gettempdir() in text
        out[f"video job of {label}"] = (f"{job['status']}, {job['frames_done']} frames; "
                                        f"server path in the answer: {'yes' if leak else 'no'}")
    return out


def sample_clip() -> bytes:
    """The test suite's synthetic 2 s clip (the example face sliding sideways)."""
    sys.path.insert(0, str(ROOT))
    from tests.service.test_video_jobs import make_video

    with tempfile.TemporaryDirectory() as t:
        return make_video(Path(t) / "clip.mp4")


def killed_uploads(src: Path | None, tmp: Path) -> str:
    """kill -9 while a video job runs; count the upload folders left once a new server has started."""
    clip = (ROOT.parent / "shared" / "data" / "video" / "obama_nasa_speech_640x360.mp4")
    data = clip.read_bytes() if clip.exists() else png_bomb(10, 10)
    with server(src, tmp) as (url, key, proc):
        httpx.post(url + "/v1/video/jobs", headers={"X-API-Key": key}, files={"video": ("clip.mp4", data)}, timeout=60)
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with server(src, tmp):
        left = [d for d in tmp.glob("vultus-jobs-*") if any(p.name != ".owner.lock" for p in d.iterdir())]
    return f"{len(left)} folder(s) with uploads"


def run_variant(name: str, src: Path | None) -> dict[str, str]:
    print(f"== {name}", flush=True)
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix=f"hardening-{name}-") as t:
        tmp = Path(t)
        with server(src, tmp) as (url, key, proc):
            out["64 idle connections, then a keyed request"] = idle_flood(url, key, 64)
            out["300 idle connections, then a keyed request"] = idle_flood(url, key, 300)
            out["100 new connections at once (/v1/health)"] = burst(url)
            out.update(errors(url, key))
        for label, bomb in (("40 MP", png_bomb(8000, 5000)), ("15 MP", png_bomb(5000, 3000))):
            with server(src, tmp / label.replace(" ", "")) as (url, key, proc):  # fresh: memory is its own
                res = bombs(url, key, proc.pid, bomb, 20)
            size = f"{len(bomb) / 1000:.1f} kB"
            out[f"20 PNG bombs of {label} ({size}) at once: answers"] = res["answers"]
            out[f"20 PNG bombs of {label}: a normal identify meanwhile"] = res["identify"]
            out[f"20 PNG bombs of {label}: server memory"] = res["memory"]
            print(out, flush=True)
        out["kill -9 during a video job, then restart"] = killed_uploads(src, tmp / "killed")
    print(json.dumps(out, indent=1), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default="d93402c", help="commit whose server is 'before'")
    args = ap.parse_args()
    load0 = os.getloadavg()
    before = run_variant("before", source_of(args.before))
    after = run_variant("after", None)
    load1 = os.getloadavg()
    rows = "\n".join(f"| {case} | {before.get(case, '-')} | {after.get(case, '-')} |" for case in after)
    write_section("hardening", f"""## Service hardening: attacks before and after (issue 15)

Each row is a real attack on a real `vultus serve` on 127.0.0.1, both servers in one run on the same
inputs: before = commit `{args.before}`, after = `{git_rev()}`. A "PNG bomb" is a black 1-bit PNG of a
few kB; "a normal identify" is a 640x512 photo sent 0.3 s into the attack. Memory is the server's
resident set during the attack, on a server started for that case (increase over its size before
the attack, and the peak).

| case | before | after |
|---|---|---|
{rows}

Machine: {machine()}; load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end (the machine was
shared: times are pessimistic, the statuses and the memory are not).
Command: `nice -n 10 .venv/bin/python bench/hardening.py`
""")


if __name__ == "__main__":
    main()
