"""What every command shares: output (tables or JSON lines), progress on stderr, input expansion."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import VultusError
from ..io import iter_image_paths

out = Console(highlight=False)  # tables go to stdout
err = Console(stderr=True, highlight=False)  # progress, logs and messages go to stderr

JsonOpt = typer.Option(False, "--json", help="One JSON object per line on stdout, nothing else.")
FarOpt = typer.Option(1e-3, "--far", help="Target false accept rate; its calibrated threshold decides.")
DetectorOpt = typer.Option("yunet", "--detector", "-d", help="Detector name (see `vultus models`).")


_json_out: Any = None  # where emit() writes while stdout_is_ours() runs


def emit(obj: dict[str, Any]) -> None:
    stream = _json_out or sys.stdout
    stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
    stream.flush()


@contextmanager
def stdout_is_ours() -> Iterator[None]:
    """Keep stdout for our own output: what libraries print there meanwhile (Ray's driver prints
    cluster messages such as a lost worker) goes to stderr."""
    global _json_out
    _json_out, real = sys.stdout, sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout, _json_out = real, None


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(v) for v in r])
    out.print(t)


def expand(inputs: list[Path]) -> list[Path]:
    paths = iter_image_paths(inputs)
    if not paths:
        raise VultusError("no images found in " + ", ".join(map(str, inputs)))
    return paths


@contextmanager
def progress(total: int, label: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on stderr (hidden for tiny jobs and when stderr is not a terminal)."""
    show = enabled and total > 3
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, disable=not show, transient=True) as p:
        task = p.add_task(label, total=total)
        yield lambda n=1: p.advance(task, n)


class ImageBatch:
    """Load image files one by one with a progress bar; an unreadable one is reported (a JSON
    error line with --json) and counted, and the batch goes on. `exit_code()` is 1 if any failed."""

    def __init__(self, inputs: list[Path], label: str, json_out: bool):
        self.paths = expand(inputs)
        self.label, self.json_out, self.failed = label, json_out, 0

    def __iter__(self) -> Iterator[tuple[Path, Any]]:
        from ..io import load_image

        with progress(len(self.paths), self.label) as tick:
            for p in self.paths:
                try:
                    img = load_image(p)
                except VultusError as e:
                    self.failed += 1
                    report_error(p, e, self.json_out)
                    continue
                finally:
                    tick()
                yield p, img

    def exit_code(self) -> None:
        if self.failed:
            raise typer.Exit(1)


def report_error(path: Path, e: VultusError, json_out: bool) -> None:
    if json_out:
        emit({"input": str(path), "error": str(e), "kind": e.kind})
    err.print(f"[red]error:[/] {e}", soft_wrap=True)


def fail(message: str) -> None:
    """Report a user error and exit 1."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(1)
