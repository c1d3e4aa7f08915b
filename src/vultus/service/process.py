"""`vultus serve` in a child process, for tests, benchmarks and notebooks: always on loopback,
ready before the block starts, stopped when it ends (whatever happens inside)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system), from /proc (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(gallery: str | Path, *options: str, log: str | Path, ready: str = "/v1/health",
                   timeout: float = 120.0) -> Iterator[RunningServer]:
    """Run `vultus serve --gallery GALLERY OPTIONS...` on 127.0.0.1; yield it once `ready` answers
    200 (use /v1/ready to also wait for calibrated thresholds). Output goes to `log`."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "from vultus.cli.app import main; main()", "serve", "--gallery", str(gallery),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *options]
    log = Path(log)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vultus serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vultus serve not ready within {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield RunningServer(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
