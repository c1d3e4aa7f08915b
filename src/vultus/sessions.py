"""Capture-session metadata: features of a webcam session, and a one-class model of authentic ones.

The web page's collector (`service/static/collector.js`) summarises a capture session: the device
and track the browser reports, frame timing from `requestVideoFrameCallback`, and image statistics
of the frames. `features()` turns that summary into named numbers; `NoveltyModel` keeps authentic
sessions as references and scores a session by its distance to the nearest of them, naming the
features that differ most. It never needs an injected example:
virtual cameras are found as sessions unlike the authentic ones (novelty detection).

Browser-automation facts (`navigator.webdriver`, a "HeadlessChrome" user agent) are recorded by the
collector but are not features: they say a robot drives the browser, not where the frames come from,
and using them would make the injected sessions recorded here (with Playwright) trivially easy.

Everything here is client-reported: a determined attacker who controls the page's JavaScript can
forge any of it. The check raises the cost of naive injection (virtual camera software, a browser's
fake or file capture, a page script swapping in a canvas stream); it is no proof of a real camera.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .errors import VultusError
from .models.base import SourceVerdict


class SessionError(VultusError):
    """A capture session summary that cannot be read (not JSON, wrong shape, wrong version)."""

    kind = "bad_session"


#: words in the labels of virtual camera software and browser capture devices (lower case)
VIRTUAL_WORDS = ("virtual", "obs", "manycam", "v4l2loopback", "dummy video", "snap camera", "xsplit", "camtwist",
                 "e2esoft", "splitcam", "youcam", "nvidia broadcast", "mmhmm", "droidcam", "iriun", "epoccam",
                 "fake", "screen", "capture")
IMAGE_CONTROLS = ("brightness", "contrast", "saturation", "sharpness", "whiteBalanceMode", "colorTemperature",
                  "exposureMode", "exposureTime", "exposureCompensation", "focusMode", "focusDistance", "iso",
                  "zoom", "pan", "tilt", "torch")
USB_ID = re.compile(r"\([0-9a-f]{4}:[0-9a-f]{4}\)\s*$", re.I)


@dataclass(frozen=True)
class Feature:
    name: str
    meaning: str
    get: Callable[[Mapping[str, Any]], float]
    floor: float  # the smallest scale a deviation is measured in (a binary feature: 0.1)
    binary: bool = False


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _label(s: Mapping[str, Any]) -> str:
    return str(_get(s, "track", "label") or "")


def _intervals(s: Mapping[str, Any]) -> Mapping[str, Any]:
    """The capture-time interval statistics, or the media-time ones when the browser gives no capture time."""
    return _get(s, "frames", "capture_interval_ms") or _get(s, "frames", "media_interval_ms") or {}


def _regular(s: Mapping[str, Any]) -> float:
    v = _get(s, "frames", "capture_regular_share")
    return _num(v if v is not None else _get(s, "frames", "media_regular_share"))


def _measured_fps(s: Mapping[str, Any]) -> float:
    p50 = _num(_intervals(s).get("p50"))
    return 1000.0 / p50 if p50 and p50 > 0 else math.nan


def _fps_mismatch(s: Mapping[str, Any]) -> float:
    declared = _num(_get(s, "track", "settings", "frameRate"))
    measured = _measured_fps(s)
    return abs(measured - declared) / declared if declared and declared > 0 else math.nan


def _log2(x: Any) -> float:
    v = _num(x)
    return math.log2(v) if v and v > 0 else math.nan


def _log10p(x: Any, eps: float) -> float:
    v = _num(x)
    return math.log10(v + eps) if math.isfinite(v) and v >= 0 else math.nan


def _cv(s: Mapping[str, Any]) -> float:
    st = _intervals(s)
    mean, std = _num(st.get("mean")), _num(st.get("std"))
    return std / mean if mean and mean > 0 else math.nan


def _tail(s: Mapping[str, Any]) -> float:
    st = _intervals(s)
    p50, p95 = _num(st.get("p50")), _num(st.get("p95"))
    return p95 / p50 if p50 and p50 > 0 else math.nan


def _dropped(s: Mapping[str, Any]) -> float:
    count, dropped = _num(_get(s, "frames", "count")), _num(_get(s, "frames", "dropped"))
    return dropped / (count + dropped) if count and count > 0 else math.nan


def _controls(s: Mapping[str, Any]) -> float:
    caps = _get(s, "track", "capabilities") or {}
    return float(sum(k in caps for k in IMAGE_CONTROLS))


FEATURES: tuple[Feature, ...] = (
    Feature("label_virtual_word", "the camera's label names virtual camera software or a fake device",
            lambda s: float(any(w in _label(s).lower() for w in VIRTUAL_WORDS)), 0.1, True),
    Feature("label_is_path", "the camera's label is a video file's name (a browser playing a file as its camera)",
            lambda s: float(bool(re.search(r"\.(y4m|mjpeg|mjpg)\s*$", _label(s), re.I))), 0.1, True),
    Feature("label_token", "the label is a generated id, not a name (streams made by a page script carry one)",
            lambda s: float(bool(re.fullmatch(r"[A-Za-z0-9+/=_-]{16,}", _label(s).strip()))), 0.1, True),
    Feature("label_empty", "the video track has no label (a canvas or element capture stream)",
            lambda s: float(not _label(s).strip()), 0.1, True),
    Feature("label_usb_id", "the label ends in a USB vendor:product id, as browsers show for USB cameras",
            lambda s: float(bool(USB_ID.search(_label(s)))), 0.1, True),
    Feature("video_inputs", "number of video input devices the browser lists",
            lambda s: float(min(sum(d.get("kind") == "videoinput" for d in (s.get("devices") or [])
                                    if isinstance(d, Mapping)), 5)), 0.5),
    Feature("has_capabilities", "the track reports capabilities (width, height, frame rate ranges)",
            lambda s: float(isinstance(_get(s, "track", "capabilities", "width"), Mapping)), 0.1, True),
    Feature("has_device_id", "the track's settings carry a device id (real and virtual devices do; streams "
            "made by a script do not)", lambda s: float(_get(s, "track", "settings", "deviceId") == "present"), 0.1, True),
    Feature("cap_width_max_log2", "log2 of the largest width the camera offers",
            lambda s: _log2(_get(s, "track", "capabilities", "width", "max")), 0.25),
    Feature("cap_height_max_log2", "log2 of the largest height the camera offers",
            lambda s: _log2(_get(s, "track", "capabilities", "height", "max")), 0.25),
    Feature("cap_frame_rate_max", "the highest frame rate the camera offers",
            lambda s: _num(_get(s, "track", "capabilities", "frameRate", "max")), 2.0),
    Feature("image_controls", "how many image controls (exposure, focus, white balance, brightness...) the "
            "camera exposes", _controls, 1.0),
    Feature("exposure_manual", "exposure is in manual mode at the start (webcams start in automatic exposure)",
            lambda s: float(_get(s, "track", "settings", "exposureMode") == "manual"), 0.1, True),
    Feature("facing_mode_set", "the camera says which way it faces (phones and tablets do)",
            lambda s: float(bool(_get(s, "track", "settings", "facingMode"))), 0.1, True),
    Feature("settings_frame_rate", "the frame rate the track is set to",
            lambda s: _num(_get(s, "track", "settings", "frameRate")), 2.0),
    Feature("has_capture_time", "frames carry a capture timestamp",
            lambda s: float(bool(_get(s, "frames", "capture_time"))), 0.1, True),
    Feature("interval_cv", "frame interval jitter: standard deviation over mean", _cv, 0.02),
    Feature("interval_tail", "slow frames: the 95th percentile interval over the median", _tail, 0.05),
    Feature("interval_regular_share", "share of frame intervals within 0.5 % of the median (clock-exact "
            "timestamps)", _regular, 0.05),
    Feature("fps_mismatch", "measured frame rate against the declared one (relative difference)", _fps_mismatch, 0.05),
    Feature("dropped_share", "share of frames the page never saw", _dropped, 0.02),
    Feature("duplicate_share", "share of frames identical to the previous one, pixel for pixel",
            lambda s: _num(_get(s, "image", "duplicate_share")), 0.02),
    Feature("noise_log10", "log10 of the noise floor (sigma, grey levels): sensors have noise, rendered or "
            "decoded video has little", lambda s: _log10p(_get(s, "image", "noise_sigma", "p50"), 0.05), 0.1),
    Feature("blockiness", "steps at 8-pixel block borders over steps elsewhere (compression traces)",
            lambda s: _num(_get(s, "image", "blockiness", "p50")), 0.05),
    Feature("clipped_share", "share of pixels at black or white", lambda s: _num(_get(s, "image", "clipped_share", "p50")),
            0.01),
    Feature("frame_diff_log10", "log10 of the mean grey-level change between frames",
            lambda s: _log10p(_get(s, "image", "frame_diff", "p50"), 0.05), 0.1),
    Feature("frame_sizes", "number of distinct frame sizes during the session",
            lambda s: float(len(_get(s, "frames", "sizes") or [])), 0.5),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
#: features about the device's name only: an attacker can rename a virtual camera (a v4l2loopback
#: card label, a patched driver), so the evaluation also reports the model without them
LABEL_FEATURES = ("label_virtual_word", "label_is_path", "label_token", "label_empty", "label_usb_id")


def check_session(session: Any) -> Mapping[str, Any]:
    """The session summary as a mapping, or a `SessionError` saying what is wrong with it."""
    if isinstance(session, (str, bytes)):
        try:
            session = json.loads(session)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SessionError("session: not valid JSON") from None
    if not isinstance(session, Mapping):
        raise SessionError("session: expected a JSON object (the collector's summary)")
    if session.get("version") != 1:
        raise SessionError(f"session: unsupported collector version {session.get('version')!r} (this server reads 1)")
    for key in ("track", "frames", "image"):
        if not isinstance(session.get(key), Mapping):
            raise SessionError(f"session: missing {key!r}")
    return session


def features(session: Mapping[str, Any]) -> np.ndarray:
    """The named features (`FEATURE_NAMES`) of one session; NaN where the session lacks the fact."""
    session = check_session(session)
    return np.array([f.get(session) for f in FEATURES], np.float64)


def feature_matrix(sessions: Iterable[Mapping[str, Any]]) -> np.ndarray:
    return np.stack([features(s) for s in sessions])


@dataclass(frozen=True)
class Explanation:
    feature: str
    value: float
    typical: float  # the authentic median
    deviation: float  # signed, in robust scales
    contribution: float  # share of the squared score
    meaning: str

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": _round(self.value), "typical": _round(self.typical),
                "deviation": round(self.deviation, 2), "contribution": round(self.contribution, 4),
                "meaning": self.meaning}


def _round(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 4)


@dataclass(frozen=True)
class SessionVerdict(SourceVerdict):
    """A source check's verdict with each feature's part in it, strongest first."""

    explanations: tuple[Explanation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["explanations"] = [e.to_dict() for e in self.explanations]
        return d


CAP = 10.0  # a feature counts at most this many scales: one odd fact alone cannot decide
K = 5  # neighbours


@dataclass
class NoveltyModel:
    """Authentic sessions as reference points; a session's score is its mean distance to the `K`
    nearest of them. Each feature is measured in a robust scale (1.4826 x MAD over the authentic
    sessions, at least the feature's floor) and counts at most `CAP` scales, so one odd fact alone
    cannot decide. Nearest neighbours, not one centre, because authentic cameras form separate
    groups (a USB webcam on Windows, a phone's front camera, a MacBook) that a single mean would
    blur. Features missing from a session (NaN) count as no difference. The explanation of a score
    is each feature's share of the squared distance to those neighbours."""

    names: tuple[str, ...]
    reference: np.ndarray  # (N, F) authentic feature vectors
    scale: np.ndarray
    threshold: float = math.inf
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, x: np.ndarray, names: Iterable[str] = FEATURE_NAMES, drop: Iterable[str] = ()) -> "NoveltyModel":
        names = tuple(names)
        by_name = {f.name: f for f in FEATURES}
        keep = [i for i, n in enumerate(names) if n not in set(drop)]
        x = np.asarray(x, np.float64)[:, keep]
        names = tuple(names[i] for i in keep)
        med = np.nanmedian(x, axis=0)
        mad = np.nanmedian(np.abs(x - med), axis=0)
        floors = np.array([by_name[n].floor for n in names])
        return cls(names, x, np.maximum(1.4826 * np.nan_to_num(mad), floors))

    def select(self, x: np.ndarray) -> np.ndarray:
        """The columns of a full feature matrix that this model uses."""
        x = np.asarray(x, np.float64)
        if x.shape[-1] == len(self.names):
            return x
        return x[..., [FEATURE_NAMES.index(n) for n in self.names]]

    def _diffs(self, x: np.ndarray, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per session: (K, F) capped squared differences to its K nearest references, and their indices."""
        x = np.atleast_2d(self.select(x))
        out, idx = [], []
        for row in x:
            d = (row - self.reference) / self.scale
            d2 = np.minimum(np.nan_to_num(d) ** 2, CAP ** 2)
            dist = d2.mean(axis=1)
            if exclude_self:
                dist[np.argmin(dist)] = np.inf
            near = np.argpartition(dist, K)[:K] if len(dist) > K else np.arange(len(dist))
            out.append(d2[near])
            idx.append(near)
        return np.stack(out), np.stack(idx)

    def scores(self, x: np.ndarray) -> np.ndarray:
        d2, _ = self._diffs(x)
        return np.sqrt(d2.mean(axis=2)).mean(axis=1)

    def calibrate(self, authentic: np.ndarray, false_alarm: float = 0.01, folds: int = 5, seed: int = 0) -> float:
        """Set the threshold at the (1 - false_alarm) quantile of authentic scores, each scored
        against references that exclude it (k-fold), so the threshold is not set on the very
        sessions it was fitted to."""
        authentic = self.select(authentic)
        rng = np.random.default_rng(seed)
        fold = rng.permutation(len(authentic)) % folds
        held = np.empty(len(authentic))
        for k in range(folds):
            m = NoveltyModel(self.names, authentic[fold != k], self.scale)
            held[fold == k] = m.scores(authentic[fold == k])
        self.threshold = float(np.quantile(held, 1 - false_alarm, method="higher"))
        self.info["false_alarm_target"] = false_alarm
        return self.threshold

    def verdict(self, session: Mapping[str, Any], check: str = "vcd", top: int = 5) -> SessionVerdict:
        full = features(session)
        d2, near = self._diffs(full)
        score = float(np.sqrt(d2[0].mean(axis=1)).mean())
        per_feature = d2[0].mean(axis=0)
        share = per_feature / max(float(per_feature.sum()), 1e-12)
        values = self.select(full)
        typical = np.nanmedian(self.reference[near[0]], axis=0)
        by_name = {f.name: f for f in FEATURES}
        explained = tuple(Explanation(self.names[i], float(values[i]), float(typical[i]),
                                      float(np.sign(np.nan_to_num(values[i] - typical[i])) * np.sqrt(per_feature[i])),
                                      float(share[i]), by_name[self.names[i]].meaning)
                          for i in np.argsort(-per_feature)[:top] if per_feature[i] > 0)
        return SessionVerdict(genuine=score <= self.threshold, score=score, threshold=self.threshold,
                              reasons=tuple((e.feature, e.contribution) for e in explained), check=check,
                              explanations=explained)

    # -- files -------------------------------------------------------------------------------------
    def to_json(self) -> str:
        ref = [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in self.reference]
        return json.dumps({"kind": "vultus-vcd-novelty", "version": 1, "names": list(self.names), "k": K, "cap": CAP,
                           "scale": [round(float(v), 6) for v in self.scale], "threshold": round(self.threshold, 6),
                           "info": self.info, "reference": ref}, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> "NoveltyModel":
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or d.get("kind") != "vultus-vcd-novelty" or d.get("version") != 1:
                raise ValueError("not a vultus VCD model file")
            unknown = set(d["names"]) - set(FEATURE_NAMES)
            if unknown:
                raise ValueError(f"unknown features {sorted(unknown)}")
            ref = np.array([[math.nan if v is None else v for v in row] for row in d["reference"]], np.float64)
            if ref.ndim != 2 or ref.shape[1] != len(d["names"]) or len(d["scale"]) != len(d["names"]):
                raise ValueError("reference and scale do not match the feature names")
            return cls(tuple(d["names"]), ref, np.array(d["scale"], np.float64), float(d["threshold"]),
                       dict(d.get("info") or {}))
        except (ValueError, KeyError, TypeError) as e:
            raise SessionError(f"{source}: {e}") from None


# -- labelled session files (vultus vcd train) ---------------------------------------------------------
LABELS = ("authentic", "injected")


def read_sessions(paths: Iterable[str | Path], default_label: str | None = None) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, session) from .json files (a session, a {"label", "session"} record, or a list of them)
    and .jsonl files (one per line), searched in folders too. A bare session takes `default_label`."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix in (".json", ".jsonl"))
        elif p.is_file():
            files.append(p)
        else:
            raise SessionError(f"{p}: no such file or folder")
    out = []
    for f in files:
        text = f.read_text(errors="replace")
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()] if f.suffix == ".jsonl" \
                else json.loads(text)
        except json.JSONDecodeError as e:
            raise SessionError(f"{f}: not valid JSON ({e.msg}, line {e.lineno})") from None
        for i, item in enumerate(items if isinstance(items, list) else [items]):
            where = f"{f}" + (f" item {i + 1}" if isinstance(items, list) else "")
            if isinstance(item, Mapping) and "session" in item:
                label, session = item.get("label", default_label), item["session"]
            else:
                label, session = default_label, item
            if label not in LABELS:
                raise SessionError(f"{where}: label must be one of {', '.join(LABELS)}"
                                   + ("" if label else " (or pass a default label)"))
            try:
                out.append((label, check_session(session)))
            except SessionError as e:
                raise SessionError(f"{where}: {str(e).removeprefix('session: ')}") from None
    if not out:
        raise SessionError("no sessions found in " + ", ".join(map(str, paths)))
    return out
