"""Run Schemathesis against a running `vultus serve`: used by tests/service/test_contract.py (a short
run with a fixed seed) and by bench/fuzz.py (`make fuzz`, a long one that writes its figures)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

#: Operations left out, each with its reason (written to the docs with the figures).
EXCLUDED = {
    "revoke_key": "revoking the key the fuzzer sends would turn the rest of the run into 401s "
                  "(tests/service/test_api.py covers it)",
}


@dataclass(frozen=True)
class FuzzRun:
    operations: int
    cases: int
    failures: int
    returncode: int
    output: str

    def report(self, limit: int = 15000) -> str:
        """The failures and the summary, with long lines (binary bodies) cut."""
        start = self.output.find("FAILURES")
        text = self.output[start if start >= 0 else 0:]
        return "\n".join(line[:300] for line in text.splitlines())[-limit:]


def run_schemathesis(url: str, key: str, *, examples: int, seed: int, max_time: float | None = None,
                     workers: int = 1) -> FuzzRun:
    """All checks and all phases (examples, coverage, fuzzing, stateful) with this repo's hooks and
    configuration (tests/service/contract/)."""
    cli = Path(sys.executable).with_name("schemathesis")
    cmd = [str(cli), "--no-color", "--config-file", str(HERE / "schemathesis.toml"), "run", f"{url}/openapi.json",
           "--header", f"X-API-Key: {key}", "--checks", "all", "--max-examples", str(examples), "--seed", str(seed),
           "--workers", str(workers), "--request-timeout", "300"]
    for operation in EXCLUDED:
        cmd += ["--exclude-operation-id", operation]
    if max_time:
        cmd += ["--max-time", str(int(max_time))]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.service.contract.hooks"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    out = proc.stdout + proc.stderr
    tested = re.search(r"Tested:\s+(\d+)", out)
    cases = re.search(r"(\d+) generated", out)
    failures = re.search(r"(\d+) unique failures?", out)
    return FuzzRun(int(tested.group(1)) if tested else 0, int(cases.group(1)) if cases else 0,
                   int(failures.group(1)) if failures else 0, proc.returncode, out)
