"""The long Schemathesis run against `vultus serve` (`make fuzz`): all checks, all phases (examples,
coverage, fuzzing, stateful with the document's links), real photos and a real video clip among the
generated files. `make test` runs the same with few examples; this one writes its figures.

    nice -n 10 .venv/bin/python bench/fuzz.py [--examples 100] [--seed 1]

Writes its section of docs/benchmarks.md; fails (exit 1) if Schemathesis found anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import RESULTS, git_rev, machine, write_section  # noqa: E402

from tests.service.contract.runner import EXCLUDED, run_schemathesis  # noqa: E402
from vultus.service.keys import KeyStore  # noqa: E402
from vultus.service.process import running_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=100, help="generated cases per operation and phase")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vultus-fuzz-") as tmp:
        keys = KeyStore(Path(tmp) / "g.db")
        _, key = keys.create("admin", "fuzz")
        keys.close()
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        with running_server(Path(tmp) / "g.db", "--rate", "0", log=Path(tmp) / "serve.log", ready="/v1/ready",
                            timeout=600) as s:
            run = run_schemathesis(s.url, key, examples=args.examples, seed=args.seed)
        minutes = (time.monotonic() - t0) / 60
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.log").write_text(run.output)
    print(run.report(4000))
    excluded = "\n".join(f"- `{op}`: {why}" for op, why in EXCLUDED.items())
    write_section("fuzz", f"""## The API contract under Schemathesis

Schemathesis 4 against a real `vultus serve` on 127.0.0.1, from its served OpenAPI document (the same
as [openapi.json](openapi.json)): every check (server errors, status codes, content types, headers and
bodies against the schema, schema-invalid requests rejected, schema-valid requests accepted, missing
auth, undeclared methods and `Allow`, use after delete, links), every phase (examples, coverage,
fuzzing, stateful through the document's links from enroll to read, rename, thumbnail and delete, and
from a video job to its status, result and deletion). Real photos, a photo without a face and a
1-second real video clip are drawn among the generated files (tests/service/contract/hooks.py).

| operations tested | generated cases | failures | seed | examples per operation | time |
|---|---|---|---|---|---|
| {run.operations} | {run.cases} | **{run.failures}** | {args.seed} | {args.examples} | {minutes:.1f} min |

Left out on purpose:
{excluded}

Deliberate widenings of the checks are in tests/service/contract/schemathesis.toml, each with its
reason: 413 counts as a rejection of schema-invalid data; on the image routes a schema-valid request
may get a 422 only for its image's content (`bad_image`, `poor_quality`), which a custom check
enforces; a new video job may get the documented 503 when the queue is full.

Commit `{git_rev()}`; {machine()}; load average {load0:.1f} at the start.
Command: `make fuzz` (`nice -n 10 .venv/bin/python bench/fuzz.py --examples {args.examples} --seed {args.seed}`).
`make test` runs the same with 5 examples per operation (tests/service/test_contract.py).
""")
    sys.exit(0 if run.returncode == 0 and run.failures == 0 else 1)


if __name__ == "__main__":
    main()
