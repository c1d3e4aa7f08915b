"""`vultus video identify` and `vultus video faces`: who appears in a video, when and where."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from .common import FarOpt, JsonOpt, emit, err, fail, out, table

app = typer.Typer(no_args_is_help=True, help="Track and identify faces in video files and live streams.")

SourceArg = typer.Argument(..., help="Video file, URL (rtsp://, http://) or webcam (webcam, webcam:1, /dev/video0).")
OutOpt = typer.Option(None, "--out", "-o", help="Write an annotated MP4 (boxes, names, original audio).")
TimelineOpt = typer.Option(None, "--timeline", "-t", help="Write the JSON timeline to this file.")
BoxesOpt = typer.Option(False, "--boxes", help="Put every track's per-frame boxes in the timeline.")
ThumbsOpt = typer.Option(None, "--thumbnails", help="Write one JPEG per track (its best face) into this folder.")
StrideOpt = typer.Option(1, "--stride", min=1, help="Analyse every N-th frame only.")
StartOpt = typer.Option(None, "--start", min=0.0, help="Start at this time (seconds).")
EndOpt = typer.Option(None, "--end", min=0.0, help="Stop after this time (seconds).")
EveryOpt = typer.Option(3, "--detect-every", min=1, help="Run the detector on every N-th analysed frame; "
                        "the tracker fills the frames between.")
WithOpt = typer.Option(None, "--with", "-w", help="Analyzers to run on every track, comma-separated (e.g. "
                       "agegender); their per-track summaries and timed events go into the timeline.")
SizeOpt = typer.Option(640, "--detect-size", min=64, help="Long side (pixels) of the frame the detector sees; "
                       "raise it for small faces in large frames.")


class _Rate(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} frames/s" if speed else "  ... frames/s", style="progress.data.speed")


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A frames/s progress bar on stderr; an open-ended one for live sources."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), _Rate(), TimeRemainingColumn(),
                  console=err, transient=True) as p:
        task = p.add_task(label, total=None)

        def tick(done: int, total: int | None) -> None:
            p.update(task, completed=done, total=total)

        yield tick


def _run(*args: Any) -> None:
    # user errors become "error: ..." and exit 1 right here, inside typer (no traceback)
    from ..errors import VultusError

    try:
        _analyse(*args)
    except VultusError as e:
        fail(str(e))


def _analyse(source: str, gallery_path: Optional[Path], far: float, stride: int, start: Optional[float],
         end: Optional[float], detect_every: int, detect_size: int, annotated: Optional[Path],
         timeline: Optional[Path], boxes: bool, thumbnails: Optional[Path], export: Optional[Path],
         json_out: bool, analyzers: Optional[str] = None) -> None:
    from ..gallery import Gallery
    from ..video import analyze_video
    from ..video.render import export_people, write_annotated, write_thumbnails

    from ..video.decode import VideoError, is_live

    if annotated and is_live(source):
        raise VideoError(f"{source}: --out needs a video file; a live source cannot be read twice")
    gallery = None
    if gallery_path is not None:
        if not gallery_path.exists():
            fail(f"{gallery_path}: no such gallery (enroll someone first)")
        gallery = Gallery(gallery_path)
    try:
        with _progress("video") as tick:
            result = analyze_video(source, gallery, target_far=far, stride=stride, start=start, end=end,
                                   progress=tick, detect_every=detect_every, detect_size=detect_size,
                                   keep_boxes=bool(boxes or annotated), analyzers=analyzers)
    finally:
        if gallery is not None:
            gallery.close()
    thumbs = write_thumbnails(result, thumbnails) if thumbnails else {}
    doc = result.to_dict(with_boxes=boxes)
    for t in doc["tracks"]:
        if t["track_id"] in thumbs:
            t["thumbnail"] = str(thumbs[t["track_id"]])
    if timeline:
        timeline.parent.mkdir(parents=True, exist_ok=True)
        timeline.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    if json_out:
        for t in doc["tracks"]:
            emit(t)
    else:
        from .analyze import short

        who = f"gallery {gallery_path}" if gallery_path else "no gallery"
        outputs = list(dict.fromkeys(o for t in result.tracks for o in t.analysis))
        table(f"{source}: {result.frames} frames, {len(result.tracks)} tracks ({who}, "
              f"{result.processing_fps:.1f} frames/s)",
              ["track", "who", "score", "time (s)", "frames", "detected", "embedded", *outputs],
              [[t.track_id, t.label if t.identity else f"[dim]{t.label}[/]",
                "-" if t.score is None else f"{t.score:.3f}", f"{t.first_time:.2f}-{t.last_time:.2f}",
                f"{t.first_frame}-{t.last_frame}", t.detections, t.embedded,
                *(short(t.analysis[o]) if o in t.analysis else "-" for o in outputs)] for t in result.tracks])
        if not result.tracks:
            out.print("no faces found")
    if export:
        written = export_people(result, export)
        err.print(f"exported {len(written)} face(s) of {len({p.parent for p in written})} people to {export}")
    if annotated:
        with err.status("writing the annotated video"):
            write_annotated(result, annotated)
        err.print(f"annotated video: {annotated}")
    if timeline:
        err.print(f"timeline: {timeline}")
    if result.error:
        fail(f"{result.error}; the results cover {result.frames} frames up to t={result.last_time or 0:.2f} s")


@app.command()
def identify(source: str = SourceArg,
             gallery: Path = typer.Option(..., "--gallery", "-g", help="Gallery file (SQLite)."),
             out_path: Optional[Path] = OutOpt, timeline: Optional[Path] = TimelineOpt, boxes: bool = BoxesOpt,
             thumbnails: Optional[Path] = ThumbsOpt,
             export_unknown: Optional[Path] = typer.Option(
                 None, "--export-unknown", help="Write the unknown people's best faces into one folder per "
                 "person (rename them, then `vultus enroll --from-dir`)."),
             far: float = FarOpt, stride: int = StrideOpt, start: Optional[float] = StartOpt,
             end: Optional[float] = EndOpt, detect_every: int = EveryOpt, detect_size: int = SizeOpt,
             analyzers: Optional[str] = WithOpt, json_out: bool = JsonOpt) -> None:
    """Who appears in a video, when: one line per face track, identified against the gallery."""
    _run(source, gallery, far, stride, start, end, detect_every, detect_size, out_path, timeline, boxes,
         thumbnails, export_unknown, json_out, analyzers)


@app.command()
def faces(source: str = SourceArg, out_path: Optional[Path] = OutOpt, timeline: Optional[Path] = TimelineOpt,
          boxes: bool = BoxesOpt, thumbnails: Optional[Path] = ThumbsOpt,
          export: Optional[Path] = typer.Option(None, "--export", help="Write each person's best faces into one "
                                                "folder per person (for `vultus enroll --from-dir`)."),
          far: float = FarOpt, stride: int = StrideOpt, start: Optional[float] = StartOpt,
          end: Optional[float] = EndOpt, detect_every: int = EveryOpt, detect_size: int = SizeOpt,
          analyzers: Optional[str] = WithOpt, json_out: bool = JsonOpt) -> None:
    """Face tracks without a gallery, grouped into "person 1, 2, ..." by appearance."""
    _run(source, None, far, stride, start, end, detect_every, detect_size, out_path, timeline, boxes,
         thumbnails, export, json_out, analyzers)


@app.command()
def analyze(source: str = SourceArg,
            analyzers: str = typer.Option(..., "--with", "-w", help="Analyzers to run on every track, "
                                          "comma-separated (`vultus models` lists them)."),
            gallery: Optional[Path] = typer.Option(None, "--gallery", "-g", help="Also identify the tracks."),
            out_path: Optional[Path] = OutOpt, timeline: Optional[Path] = TimelineOpt, boxes: bool = BoxesOpt,
            far: float = FarOpt, stride: int = StrideOpt, start: Optional[float] = StartOpt,
            end: Optional[float] = EndOpt, detect_every: int = EveryOpt, detect_size: int = SizeOpt,
            json_out: bool = JsonOpt) -> None:
    """Analyse every face track over time (age, expression, eye behaviour...): per-track summaries,
    timed events in the timeline."""
    _run(source, gallery, far, stride, start, end, detect_every, detect_size, out_path, timeline, boxes,
         None, None, json_out, analyzers)
