"""Virtual camera detection (VCD) from capture-session metadata.

A novelty model of authentic webcam sessions (`vultus.sessions.NoveltyModel`): the collector's
summary of a session is scored by its distance to the nearest authentic sessions, and flagged when
it is unlike all of them, with the features that differ most as the explanation. The shipped model
is fitted to sessions generated from documented real-camera profiles (`training/vcd/profiles.py`:
no real camera can be recorded where vultus is built); `vultus vcd train SESSIONS` fits one to a
deployment's own recorded sessions, and `VirtualCameraCheck(model=path)` (or `vultus serve
--vcd-model`) uses it. Model card: docs/models/vcd.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ...errors import ModelError
from ..registry import Modality, ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="vcd", task=Task.SOURCE_CHECK, impl=__name__ + ":VirtualCameraCheck",
    summary="Virtual camera detection from capture-session metadata (novelty model of authentic sessions)",
    file="weights/vcd.json",
    sha256="bc35f85c6d72acb29bcf684c3882e1a2a3bbb21073cfd749acd6e7439c77ed2f",
    licence="Apache-2.0 (code and model; fitted to generated sessions, no personal data)",
    modality=Modality.METADATA, input_size="the web collector's session summary (version 1)",
    outputs=("source",), card="vcd.md", training="training/vcd/",
))


class VirtualCameraCheck:
    def __init__(self, spec: ModelSpec = SPEC, model: str | Path | None = None):
        from ...sessions import NoveltyModel, SessionError

        self.spec, self.name = spec, spec.name
        path = Path(model) if model is not None else spec.weights_path()
        try:
            text = path.read_text()
        except OSError as e:
            raise ModelError(f"{path}: cannot read the VCD model ({e.strerror})") from None
        try:
            self.model = NoveltyModel.from_json(text, str(path))
        except SessionError as e:
            raise ModelError(str(e)) from None
        self.source = str(path) if model is not None else "shipped"

    def check(self, session: Mapping[str, Any]):
        """A `SessionVerdict`; a malformed session raises `SessionError` (a user error)."""
        return self.model.verdict(session, check=self.name)
