"""A liveness requirement: presentation attack detection on faces, virtual camera detection on sessions.

Off unless asked for. `verify`, `identify` and `enroll` (library, CLI, REST) take a `Liveness`
check; with one, every face they use must pass presentation attack detection (the `pad` analyzer:
a live face, not a printed photo), and a capture session, when the request carries one (the web
page's collector sends it), must pass virtual camera detection (the `vcd` source check). The result
is reported with the answer; a failed check refuses the request with a `LivenessError` (CLI exit 1,
API 422 `liveness_failed`) and nothing is stored.

    check = LivenessCheck()                      # shipped models
    pipe.verify(a, b, liveness=check)            # -> Verification with .liveness
    gallery.enroll("ada", images, liveness=check, session=collector_summary)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import VultusError
from .models import registry
from .models.registry import Task
from .types import Face, Liveness

DEFAULT_PAD = "pad"
DEFAULT_SOURCE_CHECK = "vcd"


class LivenessError(VultusError):
    """A face or a capture session failed the liveness requirement; `report` says which and why."""

    kind = "liveness_failed"

    def __init__(self, message: str, report: "LivenessReport"):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class LivenessReport:
    """What a liveness requirement found: per checked face (by its input's name) and for the session."""

    faces: tuple[tuple[str, Liveness], ...] = ()
    source: Any = None  # a SourceVerdict, or None when no session was given
    require_session: bool = False
    notes: tuple[str, ...] = ()  # e.g. "no capture session: virtual camera detection not run"

    @property
    def passed(self) -> bool:
        faces_ok = all(lv.live for _, lv in self.faces)
        source_ok = self.source.genuine if self.source is not None else not self.require_session
        return faces_ok and source_ok

    def failures(self) -> list[str]:
        out = [f"{name}: face not live (PAD score {lv.score:.3f} < threshold {lv.threshold:.3f})"
               for name, lv in self.faces if not lv.live]
        if self.source is not None and not self.source.genuine:
            why = ", ".join(f for f, _ in self.source.reasons[:3])
            out.append(f"capture session: looks like a virtual camera (score {self.source.score:.2f} > "
                       f"threshold {self.source.threshold:.2f}; most unlike authentic sessions: {why})")
        if self.source is None and self.require_session:
            out.append("capture session: none sent, and this check requires one (the web page's collector sends it)")
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"passed": self.passed,
                             "faces": [{"input": name, **lv.to_dict()} for name, lv in self.faces],
                             "source": self.source.to_dict() if self.source is not None else None}
        if self.notes:
            d["notes"] = list(self.notes)
        return d


@dataclass
class LivenessCheck:
    """The models of a liveness requirement, loaded once (shared instances) and thread-safe.

    `pad`: the presentation attack detector (an analyzer name); `source_check`: the virtual camera
    check (a source check name); `source_model`: a VCD model file of your own (`vultus vcd train`);
    `require_session`: refuse requests that carry no capture session."""

    pad: str = DEFAULT_PAD
    source_check: str = DEFAULT_SOURCE_CHECK
    source_model: str | Path | None = None
    require_session: bool = False
    _loaded: dict = field(default_factory=dict, repr=False)

    @property
    def detector(self):
        if "pad" not in self._loaded:
            self._loaded["pad"] = registry.load(self.pad, Task.ANALYZER)
        return self._loaded["pad"]

    @property
    def checker(self):
        if "source" not in self._loaded:
            self._loaded["source"] = (registry.create(self.source_check, Task.SOURCE_CHECK, model=self.source_model)
                                      if self.source_model else registry.load(self.source_check, Task.SOURCE_CHECK))
        return self._loaded["source"]

    def faces(self, image: np.ndarray, faces: Sequence[Face]) -> list[Liveness]:
        """The PAD finding for each face."""
        if not faces:
            return []
        return [f.attributes["liveness"] for f in self.detector.analyze(image, list(faces))]

    def session(self, session: Mapping[str, Any] | str | bytes | None):
        """The source check's verdict on a capture session summary (None when there is none)."""
        if session is None:
            return None
        from .sessions import check_session

        return self.checker.check(check_session(session))

    def screen_session(self, session: Mapping[str, Any] | str | None):
        """Check the capture session before any face work: its verdict (None without a session), or
        a `LivenessError` at once when it looks like a virtual camera (or is missing but required)."""
        verdict = self.session(session)
        self._raise_if_failed(LivenessReport((), verdict, self.require_session, self._notes(session)))
        return verdict

    def require(self, checked: Sequence[tuple[str, Liveness]], session: Mapping[str, Any] | str | None,
                verdict: Any = None) -> LivenessReport:
        """The report on the faces and the session (its `verdict` when already computed), or a
        `LivenessError` naming every failure."""
        if verdict is None:
            verdict = self.session(session)
        report = LivenessReport(tuple(checked), verdict, self.require_session, self._notes(session))
        self._raise_if_failed(report)
        return report

    @staticmethod
    def _notes(session) -> tuple[str, ...]:
        return () if session is not None else ("no capture session sent: virtual camera detection not run",)

    @staticmethod
    def _raise_if_failed(report: LivenessReport) -> None:
        if not report.passed:
            raise LivenessError("liveness check failed: " + "; ".join(report.failures()), report)
