"""`vultus`: entry point. User errors exit 1 with a message; usage errors exit 2 (typer's default)."""

from __future__ import annotations

import os
import sqlite3
import sys

import typer

from ..errors import VultusError
from ..gallery.store import explain
from . import analyze, common, evaluate, faces, gallery, liveness, models, serve, video

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Offline face detection, recognition and analysis on an ordinary CPU.")
faces.register(app)
analyze.register(app)
liveness.register(app)
gallery.register(app)
models.register(app)
serve.register(app)
app.add_typer(evaluate.app, name="eval")
app.add_typer(video.app, name="video")


def main() -> None:
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        app()
    except VultusError as e:  # raised outside a command's own handling: report, exit 1
        common.err.print(f"[bold red]error:[/] {e}", soft_wrap=True)
        sys.exit(1)
    except sqlite3.Error as e:  # a damaged or unwritable gallery met outside the gallery's own checks
        common.err.print(f"[bold red]error:[/] {explain(None, e)}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        common.err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
