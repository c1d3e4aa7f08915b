"""`vultus liveness` (presentation attack detection on images and videos) and `vultus vcd train|check`
(virtual camera detection from capture-session metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import VultusError
from .common import ImageBatch, JsonOpt, emit, err, fail, out, table

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}

vcd = typer.Typer(no_args_is_help=True, help="Virtual camera detection from capture-session metadata "
                  "(the web page's collector): train a model on your own sessions, check sessions.")

LivenessOpt = typer.Option(False, "--liveness", help="Require live faces (presentation attack detection); "
                           "a face that fails refuses the command (exit 1). Off by default.")
SessionOpt = typer.Option(None, "--session", help="A capture-session summary (JSON from the web page's "
                          "collector) to check for a virtual camera with --liveness.")


def liveness_options(liveness: bool, session: Optional[Path]):
    """(LivenessCheck or None, session or None) from the shared --liveness / --session options."""
    from ..liveness import LivenessCheck
    from ..sessions import check_session

    if session is not None and not liveness:
        raise typer.BadParameter("--session is checked only with --liveness", param_hint="--session")
    if not liveness:
        return None, None
    data = None
    if session is not None:
        try:
            data = check_session(session.read_text())
        except OSError as e:
            fail(f"{session}: {e.strerror}")
        except VultusError as e:
            fail(f"{session}: {str(e).removeprefix('session: ')}")
    return LivenessCheck(), data


def print_report(report) -> None:
    """A liveness report on stderr (tables go to stdout; this is a note about the decision)."""
    if report is None:
        return
    for name, lv in report.faces:
        err.print(f"liveness {name}: {'[green]live[/]' if lv.live else '[red]not live[/]'} "
                  f"(score {lv.score:.3f}, threshold {lv.threshold:.3f})", soft_wrap=True)
    if report.source is not None:
        s = report.source
        err.print(f"capture session: {'[green]genuine camera[/]' if s.genuine else '[red]virtual camera[/]'} "
                  f"(score {s.score:.2f}, threshold {s.threshold:.2f})", soft_wrap=True)
    for note in report.notes:
        err.print(f"[dim]{note}[/]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(vcd, name="vcd")

    @app.command()
    def liveness(inputs: list[Path] = typer.Argument(..., help="Images, folders of images, or video files."),
                 detector: str = typer.Option("yunet", "--detector", "-d", help="Detector for images (videos use "
                                              "the video detector settings)."),
                 interval: float = typer.Option(0.2, "--interval", min=0.0,
                                                help="Video: seconds between the frames of a track that are checked."),
                 json_out: bool = JsonOpt) -> None:
        """Is each face live, or a presentation attack (a printed photo)? Score and threshold.

        Per face in images; per face track in videos, the scores of its frames averaged."""
        from ..liveness import LivenessCheck
        from ..pipeline import Pipeline

        videos = [p for p in inputs if p.suffix.lower() in VIDEO_SUFFIXES]
        images = [p for p in inputs if p not in videos]
        check = LivenessCheck()
        rows: list[list] = []
        failed = 0
        if images:
            pipe = Pipeline(detector)
            batch = ImageBatch(images, "liveness", json_out)
            for p, img in batch:
                faces = pipe.detect(img)
                for i, (f, lv) in enumerate(zip(faces, check.faces(img, faces))):
                    if json_out:
                        emit({"input": str(p), "face": i, "box": [round(float(v), 1) for v in f.box], **lv.to_dict()})
                    rows.append([p.name, i, "live" if lv.live else "NOT LIVE", f"{lv.score:.3f}", f"{lv.threshold:.3f}", 1])
                if not faces:
                    rows.append([p.name, "-", "no face", "", "", ""])
            failed += batch.failed
        for v in videos:
            try:
                failed += _video(v, check, interval, json_out, rows)
            except VultusError as e:
                failed += 1
                if json_out:
                    emit({"input": str(v), "error": str(e), "kind": e.kind})
                err.print(f"[red]error:[/] {e}", soft_wrap=True)
        if not json_out:
            table(f"liveness ({check.pad})", ["input", "face / track", "verdict", "score", "threshold", "frames"], rows)
        if failed:
            raise typer.Exit(1)

    @vcd.command("train")
    def train(sessions: list[Path] = typer.Argument(..., help="Session files (.json, .jsonl) or folders of them; "
                                                    "each a collector summary or {\"label\", \"session\"}."),
              out_path: Path = typer.Option(..., "--out", "-o", help="Where to write the model (JSON)."),
              label: Optional[str] = typer.Option(None, "--label", help="Label of bare sessions: authentic or injected."),
              false_alarm: float = typer.Option(0.01, "--false-alarm", min=1e-4, max=0.5,
                                                help="Share of authentic sessions the threshold may flag."),
              json_out: bool = JsonOpt) -> None:
        """Fit the virtual camera check to your own labelled sessions.

        Authentic sessions train it (no injected example is needed); injected ones, if any, are
        scored to report the detection rate."""
        from ..sessions import LABELS, NoveltyModel, feature_matrix, read_sessions

        if label is not None and label not in LABELS:
            raise typer.BadParameter(f"{label!r}; choose {' or '.join(LABELS)}", param_hint="--label")
        try:
            items = read_sessions(sessions, label)
        except VultusError as e:
            fail(str(e))
        authentic = [s for lab, s in items if lab == "authentic"]
        injected = [s for lab, s in items if lab == "injected"]
        if len(authentic) < 20:
            fail(f"{len(authentic)} authentic session(s): at least 20 are needed to learn what authentic looks like")
        x = feature_matrix(authentic)
        model = NoveltyModel.fit(x)
        model.calibrate(x, false_alarm)
        model.info.update({"trained_on": f"{len(authentic)} authentic sessions from "
                           + ", ".join(map(str, sessions)), "authentic": len(authentic)})
        summary = {"model": str(out_path), "authentic": len(authentic), "threshold": round(model.threshold, 4),
                   "false_alarm_target": false_alarm}
        if injected:
            flagged = model.scores(feature_matrix(injected)) > model.threshold
            summary.update(injected=len(injected), detected=int(flagged.sum()),
                           detection_rate=round(float(flagged.mean()), 4))
            model.info["injected_seen_at_training"] = summary["detection_rate"]
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_suffix(out_path.suffix + ".tmp")
        tmp.write_text(model.to_json())
        tmp.replace(out_path)  # never a half-written model
        if json_out:
            emit(summary)
        else:
            out.print(f"VCD model written to {out_path}: {len(authentic)} authentic sessions, threshold "
                      f"{model.threshold:.3f} (out-of-fold, {false_alarm:.1%} false alarms)")
            if injected:
                out.print(f"injected sessions flagged: {summary['detected']} of {len(injected)} "
                          f"({summary['detection_rate']:.1%}; these were not used to fit the model)")

    @vcd.command("check")
    def check(sessions: list[Path] = typer.Argument(..., help="Session files (.json, .jsonl) or folders."),
              model: Optional[Path] = typer.Option(None, "--model", "-m", help="A model from `vultus vcd train` "
                                                   "(default: the shipped one)."),
              json_out: bool = JsonOpt) -> None:
        """Is each session's camera genuine or virtual? Score, threshold and the features that decided."""
        from ..models import registry
        from ..models.registry import Task
        from ..sessions import read_sessions

        try:
            items = read_sessions(sessions, "authentic")
            checker = registry.create("vcd", Task.SOURCE_CHECK, model=model) if model else registry.load("vcd", Task.SOURCE_CHECK)
        except VultusError as e:
            fail(str(e))
        rows = []
        for i, (lab, s) in enumerate(items):
            v = checker.check(s)
            if json_out:
                emit({"session": i, "label": lab, **v.to_dict()})
            else:
                why = "; ".join(f"{e.feature} {e.value:g} (typical {e.typical:g})" for e in v.explanations[:3])
                rows.append([i, s.get("track", {}).get("label", "")[:40], "genuine" if v.genuine else "VIRTUAL",
                             f"{v.score:.2f}", f"{v.threshold:.2f}", why])
        if not json_out:
            table("virtual camera check", ["#", "camera label", "verdict", "score", "threshold", "most unusual"], rows)


def _video(path: Path, check, interval: float, json_out: bool, rows: list) -> int:
    """Per face track of a video (video's own detector settings): the PAD scores of its frames, one
    every `interval` seconds, averaged."""
    try:
        from ..video import analyze_video
    except ImportError as e:
        raise VultusError(f"{path}: video needs the video extra (pip install 'vultus[video]'): {e}") from None
    result = analyze_video(path, None, analyzers=[check.pad], analysis_interval=interval)
    for t in result.tracks:
        lv = t.analysis.get("liveness")
        if lv is None:
            continue
        if json_out:
            emit({"input": str(path), "track": t.track_id, "first_time": round(t.first_time, 3),
                  "last_time": round(t.last_time, 3), **lv.to_dict()})
        rows.append([path.name, f"track {t.track_id} ({t.first_time:.1f}-{t.last_time:.1f} s)",
                     "live" if lv.live else "NOT LIVE", f"{lv.score:.3f}", f"{lv.threshold:.3f}", lv.frames])
    if not result.tracks and not json_out:
        rows.append([path.name, "-", "no face", "", "", ""])
    if result.error:
        err.print(f"[yellow]{path}: stopped early: {result.error}[/]", soft_wrap=True)
        return 1
    return 0
