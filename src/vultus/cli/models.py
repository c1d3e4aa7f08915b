"""`vultus models`: every model and backend, where its weights come from, its licence and figures."""

from __future__ import annotations

import typer

from ..decide import calibrated
from ..models import specs
from .common import JsonOpt, emit, table


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(json_out: bool = JsonOpt) -> None:
        """List detectors, embedders and index backends with source package, licence and measured figures."""
        rows = []
        for s in specs():
            try:
                path = str(s.weights_path()) if s.file else None
                installed = True
            except Exception:
                path, installed = None, False
            if json_out:
                emit({"name": s.name, "task": s.task, "summary": s.summary, "package": s.package, "file": s.file,
                      "licence": s.licence, "commercial_use": s.commercial_use, "input_size": s.input_size,
                      "installed": installed, "path": path, "figures": s.figures})
            else:
                figs = ", ".join(f"{k} {v}" for k, v in s.figures.items()) or "-"
                rows.append([s.name, s.task, s.package or "-", s.licence, s.input_size or "-",
                             "yes" if installed else "NO", figs])
        if not json_out:
            table("models", ["name", "task", "weights from", "licence", "input", "installed", "measured"], rows)
            table("calibrated recognizers (thresholds from LFW)", ["recognizer"], [[k] for k in calibrated()])
