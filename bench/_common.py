"""Shared by the bench scripts: data location, machine description, LFW embeddings cache."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data")).resolve()
RESULTS = ROOT / "bench" / "results"  # git-ignored: caches and raw outputs
LFW = DATA / "lfw"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip() or "uncommitted"
    except OSError:
        return "unknown"


def lfw_images() -> list[Path]:
    return sorted((LFW / "lfw").glob("*/*.jpg"))


def lfw_embeddings(recognizer: str, workers: int = 2):
    """Embeddings of every LFW image (centre face), cached under bench/results/cache."""
    from vultus.eval.batch import embed_files

    paths = lfw_images()
    return paths, embed_files(paths, "yunet", recognizer, workers, "center", cache=RESULTS / "cache")


def write_section(name: str, markdown: str, doc: Path | None = None) -> Path:
    """Replace this benchmark's own section of docs/benchmarks.md (or of `doc`, e.g. a model card)
    between its markers, so each script rewrites only what it measured and the rest stays as it was."""
    import re

    doc = doc or ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\nEvery figure on this page is written by a script in `bench/`; the command is given with each table.\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return doc


def update_figures(model: str, figures: dict) -> None:
    """Merge measured figures into src/vultus/data/model_figures.json (shown by `vultus models`)."""
    import json

    path = ROOT / "src" / "vultus" / "data" / "model_figures.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(model, {}).update(figures)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
