"""Authentic capture sessions, generated from documented real-camera profiles.

No real camera can be reached on the machines this project is built on (no /dev/video*, and headless
Chromium without a fake device fails with NotFoundError), so no authentic session is *recorded* here.
The authentic training data is generated instead: each profile below fixes what a browser reports for
one real camera (label, formats, image controls), and the session-to-session variation of timing and
image statistics is drawn from stated ranges. Where each value comes from:

- Capability shapes: Chromium computes them the same way for every device capture, real or fake
  (third_party/blink/renderer/modules/mediastream: ComputeCapabilitiesForVideoSource and
  InputDeviceInfo::SetVideoInputCapabilities): width {1, widest format}, height {1, tallest format},
  aspectRatio {1/height max, width max}, frameRate {device-capture minimum, fastest format}. The
  minimum frame rate is copied from what this Chromium (156) reports for its own fake device, which
  goes through the same code.
- Labels: the product name the camera's driver reports, and for USB cameras Chromium appends
  " (vendor:product)" (e.g. "HD Pro Webcam C920 (046d:082d)"). The USB ids are the public ones of
  each product (usb.ids database).
- Formats: the makers' data sheets (Logitech C920: 1080p at 30 fps; C270: 720p at 30 fps; Brio:
  4K at 30 fps, 1080p at 60, 720p at 90; Microsoft LifeCam HD-3000: 720p at 30 fps); built-in
  laptop cameras: 720p at 30 fps (the common Chicony/Realtek modules); recent MacBooks: 1080p.
- Image controls: what Chromium's capture back ends read from each platform's camera API
  (media/capture/video: linux/v4l2_capture_delegate.cc, win/video_capture_device_mf_win.cc,
  android/.../VideoCaptureCamera2.java; the macOS back end exposes none): brightness, contrast,
  saturation, sharpness, white balance, colour temperature, exposure mode and time, focus where the
  camera has autofocus. Webcams start in automatic ("continuous") exposure.
- Timing and image statistics are ASSUMPTIONS within physical ranges, not measurements: a sensor
  clocks frames at its nominal period with sub-millisecond timestamp jitter, slows to half rate in
  dim light (automatic exposure priority), and loses a few frames under load; sensor noise is 0.8-6
  grey levels (more in dim light); MJPEG formats (most USB 2 webcams above 640x480) leave 8x8 block
  edges; consecutive frames are never pixel-identical (noise).

So the one-class model learns "sessions like these profiles", and its false-alarm rate measured on
held-out generated sessions says how it treats these profiles, not real users. A deployment should
retrain on its own recorded sessions: `vultus vcd train SESSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEVICE_MIN_FPS = 0.0  # what Chromium 156 reports as frameRate.min for device captures (its fake device)

LINUX_CONTROLS = {"brightness": {"min": -64, "max": 64, "step": 1}, "contrast": {"min": 0, "max": 64, "step": 1},
                  "saturation": {"min": 0, "max": 128, "step": 1}, "sharpness": {"min": 0, "max": 6, "step": 1},
                  "whiteBalanceMode": ["manual", "continuous"], "colorTemperature": {"min": 2800, "max": 6500, "step": 1},
                  "exposureMode": ["manual", "continuous"], "exposureTime": {"min": 1, "max": 5000, "step": 1}}
WINDOWS_CONTROLS = {**LINUX_CONTROLS, "exposureCompensation": {"min": -7, "max": 0, "step": 1}}
AUTOFOCUS = {"focusMode": ["manual", "continuous"], "focusDistance": {"min": 0, "max": 250, "step": 5}}
ANDROID_CONTROLS = {"exposureMode": ["manual", "continuous"], "exposureCompensation": {"min": -2, "max": 2, "step": 0.1},
                    "whiteBalanceMode": ["manual", "continuous"], "colorTemperature": {"min": 2850, "max": 7000, "step": 50},
                    "focusMode": ["manual", "single-shot", "continuous"], "zoom": {"min": 1, "max": 8, "step": 0.1},
                    "iso": {"min": 100, "max": 1600, "step": 1}}


@dataclass(frozen=True)
class Profile:
    name: str
    platform: str  # user agent platform
    label: str
    width_max: int
    height_max: int
    fps_max: float
    controls: dict
    mjpeg_above_vga: bool = True  # USB 2 webcams send MJPEG above 640x480
    facing: str = ""
    video_inputs: tuple[int, ...] = (1, 1, 1, 2)  # usually one camera, sometimes a second one plugged in


PROFILES: tuple[Profile, ...] = (
    Profile("logitech-c920-windows", "Windows", "HD Pro Webcam C920 (046d:082d)", 1920, 1080, 30,
            {**WINDOWS_CONTROLS, **AUTOFOCUS}),
    Profile("logitech-c270-linux", "Linux", "C270 HD WEBCAM (046d:0825)", 1280, 960, 30, LINUX_CONTROLS),
    Profile("logitech-brio-windows", "Windows", "Logitech BRIO (046d:085e)", 4096, 2160, 90,
            {**WINDOWS_CONTROLS, **AUTOFOCUS}, mjpeg_above_vga=True),
    Profile("lifecam-hd3000-windows", "Windows", "Microsoft\u00ae LifeCam HD-3000 (045e:0810)", 1280, 720, 30,
            WINDOWS_CONTROLS),
    Profile("thinkpad-integrated-linux", "Linux", "Integrated Camera (04f2:b6dd)", 1280, 720, 30, LINUX_CONTROLS,
            video_inputs=(1, 1, 2)),  # some list an IR camera too
    Profile("macbook-facetime-macos", "macOS", "FaceTime HD Camera", 1920, 1080, 30, {}, mjpeg_above_vga=False,
            video_inputs=(1, 1, 1, 2)),
    Profile("android-front-chrome", "Android", "camera2 1, facing front", 1920, 1080, 30, ANDROID_CONTROLS,
            mjpeg_above_vga=False, facing="user", video_inputs=(2, 2, 3, 4)),
)


def _stats(xs: np.ndarray) -> dict:
    xs = np.asarray(xs, np.float64)
    q = lambda p: float(np.quantile(xs, p))  # noqa: E731
    return {"n": len(xs), "mean": float(xs.mean()), "std": float(xs.std()), "min": float(xs.min()), "p05": q(0.05),
            "p50": q(0.5), "p95": q(0.95), "max": float(xs.max())}


def session(profile: Profile, rng: np.random.Generator, width: int = 640, height: int = 480,
            seconds: float = 3.0) -> dict:
    """One generated authentic session in the collector's format (version 1)."""
    dim = rng.random() < 0.25  # dim room: automatic exposure halves the frame rate
    fps = profile.fps_max if profile.fps_max <= 30 else 30.0  # the page asks for no more than 30
    fps = fps / 2 if dim else fps
    period = 1000.0 / fps
    n = int(seconds * fps)
    jitter = rng.uniform(0.05, 1.0)  # ms, timestamp jitter of the capture clock
    intervals = period + rng.normal(0, jitter, n)
    drop_rate = rng.uniform(0, 0.03)
    drops = rng.random(n) < drop_rate
    intervals[drops] += period  # a lost frame doubles the interval the page sees
    presented = np.maximum(intervals, 1.0)
    media = presented + rng.normal(0, 0.02, n)
    regular = lambda xs: float(np.mean(np.abs(xs - np.median(xs)) <= np.maximum(0.005 * np.median(xs), 0.05)))  # noqa: E731
    noise = rng.uniform(2.5, 6.0) if dim else rng.uniform(0.8, 3.0)
    mjpeg = profile.mjpeg_above_vga and width * height > 640 * 480
    block = rng.uniform(1.05, 1.4) if mjpeg else rng.uniform(0.97, 1.08)
    k = 40
    caps = {"aspectRatio": {"max": profile.width_max, "min": 1 / profile.height_max}, "deviceId": "present",
            "facingMode": [profile.facing] if profile.facing else [], "frameRate": {"max": profile.fps_max,
            "min": DEVICE_MIN_FPS}, "groupId": "present", "height": {"max": profile.height_max, "min": 1},
            "resizeMode": ["none", "crop-and-scale"], "width": {"max": profile.width_max, "min": 1}, **profile.controls}
    settings = {"aspectRatio": width / height, "deviceId": "present", "frameRate": float(profile.fps_max
                if profile.fps_max <= 30 else 30), "groupId": "present", "height": height, "resizeMode": "none",
                "width": width}
    if profile.facing:
        settings["facingMode"] = profile.facing
    for key in ("exposureMode", "whiteBalanceMode", "focusMode"):
        if key in profile.controls:
            settings[key] = "continuous"
    inputs = int(rng.choice(profile.video_inputs))
    devices = [{"kind": "videoinput", "label": profile.label, "has_group": True}]
    devices += [{"kind": "videoinput", "label": "USB Camera (0c45:6366)" if profile.platform != "Android"
                 else "camera2 0, facing back", "has_group": True} for _ in range(inputs - 1)]
    devices += [{"kind": "audioinput", "label": "Default", "has_group": True}]
    return {
        "version": 1, "collector": "vultus-collector/1", "api": "requestVideoFrameCallback",
        "duration_ms": round(seconds * 1000), "generated_from": profile.name,
        "browser": {"user_agent": f"Mozilla/5.0 ({profile.platform}) Chrome/131.0.0.0", "platform": profile.platform,
                    "ua_platform": profile.platform, "mobile": profile.platform == "Android", "webdriver": False},
        "devices": devices,
        "track": {"label": profile.label, "kind": "video", "content_hint": "", "muted": False, "ready_state": "live",
                  "settings": settings, "capabilities": caps,
                  "constraints": {"width": width, "height": height}},
        "frames": {"count": int(n - drops.sum()), "dropped": int(drops.sum()), "sizes": [f"{width}x{height}"],
                   "capture_time": True, "capture_interval_ms": _stats(presented), "media_interval_ms": _stats(media),
                   "capture_regular_share": regular(presented), "media_regular_share": regular(media)},
        "image": {"samples": n, "crop": [128, 96], "error": None, "duplicate_share": 0.0,
                  "frame_diff": _stats(rng.uniform(1.2, 1.8, k) * noise + rng.uniform(0, 4)),
                  "noise_sigma": _stats(noise * rng.uniform(0.9, 1.1, k)),
                  "blockiness": _stats(block * rng.uniform(0.97, 1.03, k)),
                  "clipped_share": _stats(np.full(k, rng.uniform(0, 0.04) if rng.random() < 0.5 else 0.0)),
                  "luma_mean": _stats(rng.uniform(60, 160, k)), "luma_std": _stats(rng.uniform(25, 60, k))},
    }


def generate(per_profile: int = 150, seed: int = 0, profiles: tuple[Profile, ...] = PROFILES) -> list[dict]:
    """`per_profile` sessions of each profile, the page asking for 640x480 (most) or 1280x720."""
    rng = np.random.default_rng(seed)
    out = []
    for p in profiles:
        for _ in range(per_profile):
            w, h = (1280, 720) if rng.random() < 0.3 and p.width_max >= 1280 else (640, 480)
            out.append(session(p, rng, w, h))
    return out
