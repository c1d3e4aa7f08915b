"""Record injected capture sessions: real headless Chromium (Debian's package, driven by Playwright)
running the same collector the web page serves, fed by every injection path we can run here.

    python -m training.vcd.record [--out bench/results/vcd/injected.jsonl] [--repeats 1]

Paths (each session's `path` field):
- `fake-device`: Chromium's built-in fake camera (`--use-fake-device-for-media-stream`), at several
  frame rates, pixel formats and requested sizes;
- `file-y4m`, `file-mjpeg`: Chromium's fake camera playing a file (`--use-file-for-fake-video-capture`),
  the shared real clips of `../shared/data/video` converted with ffmpeg;
- `canvas`: a script replaces `getUserMedia` with `canvas.captureStream()` of a clip drawn on a canvas
  (the clip re-encoded to H.264);
- `video-element`: the same with `HTMLVideoElement.captureStream()`.
What we cannot run here: OBS Virtual Camera, ManyCam, v4l2loopback (no kernel module, no /dev/video*
in this container) and any real camera: there is none, so no authentic session can be recorded here.
Sessions are written one JSON object per line: {"label": "injected", "path", "variant", "session"}.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "results" / "vcd"
COLLECTOR = ROOT / "src" / "vultus" / "service" / "static" / "collector.js"
#: the flags of tests/service/test_browser.py: no network beyond loopback, a fake permission prompt
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--use-fake-ui-for-media-stream"]
SECONDS = 3.0


def clips(data: Path = DATA) -> list[Path]:
    return sorted((data / "video").glob("*.mp4"))


def convert(clip: Path, workdir: Path, kind: str) -> Path:
    """The first 4 s of a clip as .y4m (raw I420), .mjpeg (Motion JPEG) or .h264.mp4 (for <video>;
    Debian's Chromium plays H.264), at most 1280 px wide."""
    out = workdir / f"{clip.stem}.{kind}"
    if not out.is_file():
        codec = {"y4m": ["-pix_fmt", "yuv420p"], "mjpeg": ["-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p"],
                 "h264.mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an"]}[kind]
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", "4", "-i", str(clip), "-vf",
                        "scale='min(1280,iw)':-2", *codec, str(out)], check=True)
    return out


class Harness:
    """A loopback HTTP server with the harness page, the collector and the converted clips."""

    def __init__(self, workdir: Path):
        shutil.copy(HERE / "harness.html", workdir / "harness.html")
        shutil.copy(COLLECTOR, workdir / "collector.js")

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(workdir)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/harness.html"

    def close(self) -> None:
        self.server.shutdown()


def record(playwright, chromium: str, url: str, flags: list[str], query: str, timeout: float = 60.0) -> dict:
    """One session: launch Chromium with `flags`, open the harness, return the collector's summary."""
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS + flags)
    try:
        page = browser.new_page()
        page.goto(f"{url}?seconds={SECONDS}&{query}")
        deadline = time.monotonic() + timeout
        while not page.evaluate("() => !!window.vultusSession"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no session within {timeout} s ({flags}, {query})")
            page.wait_for_timeout(200)
        session = page.evaluate("() => window.vultusSession")
    finally:
        browser.close()
    if "error" in session:
        raise RuntimeError(f"collector failed: {session['error']} ({flags}, {query})")
    return session


def plan(workdir: Path) -> list[tuple[str, str, list[str], str]]:
    """(path, variant, chromium flags, harness query) of every session to record."""
    sessions = []
    sizes = ("width=640&height=480", "width=1280&height=720")
    for fps in (15, 20, 30, 60):
        for fmt in ("I420", "MJPEG", "NV12"):
            for size in sizes:
                sessions.append(("fake-device", f"fps={fps} format={fmt} {size}",
                                 [f"--use-fake-device-for-media-stream=fps={fps},format={fmt}"], f"{size}&fps={fps}"))
    for clip in clips():
        for kind in ("y4m", "mjpeg"):
            f = convert(clip, workdir, kind)
            for size in sizes[:1] if kind == "mjpeg" else sizes:
                sessions.append((f"file-{kind}", f"{clip.name} {size}", ["--use-fake-device-for-media-stream",
                                 f"--use-file-for-fake-video-capture={f}"], size))
        webm = convert(clip, workdir, "h264.mp4").name
        for fps in (15, 30):
            sessions.append(("canvas", f"{clip.name} fps={fps}", ["--autoplay-policy=no-user-gesture-required"],
                             f"inject=canvas&clip={webm}&fps={fps}&width=640&height=480"))
        sessions.append(("video-element", clip.name, ["--autoplay-policy=no-user-gesture-required"],
                         f"inject=video&clip={webm}"))
    return sessions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT / "injected.jsonl")
    ap.add_argument("--repeats", type=int, default=1, help="record every session this many times")
    ap.add_argument("--only", default="", help="record only paths starting with this (e.g. fake-device)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    workdir = OUT / "clips"
    workdir.mkdir(parents=True, exist_ok=True)
    todo = [s for s in plan(workdir) if s[0].startswith(args.only)] * args.repeats
    harness = Harness(workdir)
    started, failed = time.time(), 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p, open(args.out, "a") as out:
            for i, (path, variant, flags, query) in enumerate(todo):
                try:
                    try:
                        session = record(p, chromium, harness.url, flags, query)
                    except TimeoutError:  # a loaded machine can starve one browser: try once more
                        session = record(p, chromium, harness.url, flags, query, timeout=180.0)
                except (RuntimeError, TimeoutError) as e:
                    failed += 1
                    print(f"[{i + 1}/{len(todo)}] FAILED {path} {variant}: {e}", flush=True)
                    continue
                out.write(json.dumps({"label": "injected", "path": path, "variant": variant, "session": session}) + "\n")
                out.flush()
                print(f"[{i + 1}/{len(todo)}] {path} {variant}: {session['frames']['count']} frames", flush=True)
    finally:
        harness.close()
    print(f"recorded {len(todo) - failed} sessions ({failed} failed) in {time.time() - started:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
