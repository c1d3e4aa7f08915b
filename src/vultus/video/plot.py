"""A picture of a video's analysis timeline: per track, class probabilities over time (expression,
or the fused emotion windows) and eye events (blinks, eyes-closed spans) as shaded spans."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..types import Label
from .results import VideoResult

#: event kinds drawn as spans, and their colours
SPANS = {"blink": "#d62728", "eyes_closed": "#7f7f7f"}


def class_series(events, output: str) -> tuple[list[float], dict[str, list[float]]]:
    """Times and per-class probabilities of the events that carry a Label named `output` (e.g.
    "expression", whichever analyzer made it)."""
    times, series = [], {}
    for e in events:
        label = e.data.get(output)
        if not isinstance(label, Label):
            continue
        times.append((e.start + e.end) / 2 if e.end is not None else e.start)
        for c, p in (label.scores or {label.value: label.confidence}).items():
            series.setdefault(c, [np.nan] * (len(times) - 1)).append(p)
        for c in series:  # a class missing from this sample
            if len(series[c]) < len(times):
                series[c].append(np.nan)
    return times, series


def plot_timeline(result: VideoResult, path: Path,
                  outputs: tuple[str, ...] = ("emotion", "expression", "fer_expression")) -> Path:
    """One panel per track with class events (the first of `outputs` it has) or eye events;
    returns `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def labelled(e, o):
        return isinstance(e.data.get(o), Label)

    tracks = [t for t in result.tracks if any(e.kind in SPANS or any(labelled(e, o) for o in outputs)
                                              for e in t.events)]
    fig, axes = plt.subplots(max(len(tracks), 1), 1, figsize=(10, 2.6 * max(len(tracks), 1)), squeeze=False)
    if not tracks:
        axes[0, 0].text(0.5, 0.5, "no expression or eye events", ha="center", va="center")
        axes[0, 0].axis("off")
    for ax, t in zip(axes[:, 0], tracks):
        kind = next((o for o in outputs if any(labelled(e, o) for e in t.events)), None)
        if kind is not None:
            times, series = class_series(t.events, kind)
            for c, ps in sorted(series.items()):
                ax.plot(times, ps, "-", lw=1.3, marker="." if len(times) < 40 else None, label=c)
        for e in t.events:
            if e.kind in SPANS and e.end is not None:
                ax.axvspan(e.start, e.end, color=SPANS[e.kind], alpha=0.25, lw=0)
        for k, colour in SPANS.items():
            n = sum(e.kind == k for e in t.events)
            if n:
                ax.plot([], [], color=colour, alpha=0.4, lw=6, label=f"{k} ({n})")
        ax.set_xlim(t.first_time, max(t.last_time, t.first_time + 1e-3))
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(f"track {t.track_id} ({t.label})" + (f": {kind}" if kind else ""), fontsize=9)
        ax.legend(fontsize=7, ncol=5, loc="upper left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
