// Capture-session metadata collector: what a webcam session says about where its frames come from.
// Plain JavaScript, no dependencies. The server's virtual camera check (vultus.sessions) scores the
// summary this produces; the fields are documented in docs/liveness.md. It records:
//  - the browser and platform (user agent, cores, screen), and every device's kind and label;
//  - the video track: label, settings, capabilities, constraints;
//  - frame timing from requestVideoFrameCallback: intervals of the capture and media timestamps,
//    their jitter and regularity, frames the page never saw (dropped);
//  - image statistics of a centre crop at native resolution: exact duplicate frames, the sensor
//    noise floor (Immerkaer's estimator), 8x8 blockiness (compression), clipped pixels.
// Usage: const s = VultusCollector.start(videoElement, mediaStream); ...; const summary = await s.result();
"use strict";

window.VultusCollector = (() => {
  const VERSION = 1;
  const CROP_W = 128; // analysed crop, native pixels (multiples of 8: the JPEG/H.264 block grid)
  const CROP_H = 96;
  const MAX_RAW = 120; // raw intervals kept in the summary

  function stats(xs) {
    if (!xs.length) return null;
    const s = xs.slice().sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / xs.length);
    return { n: xs.length, mean: r4(mean), std: r4(sd), min: r4(s[0]), p05: r4(q(0.05)), p50: r4(q(0.5)),
      p95: r4(q(0.95)), max: r4(s[s.length - 1]) };
  }

  function r4(x) { return Math.round(x * 1e4) / 1e4; }

  function plain(obj) {
    // settings / capabilities / constraints as JSON (ranges and arrays kept, device ids dropped)
    const out = {};
    for (const [k, v] of Object.entries(obj || {})) {
      if (k === "deviceId" || k === "groupId") out[k] = v ? "present" : "";
      else out[k] = v;
    }
    return out;
  }

  function browserFacts() {
    const n = navigator;
    const uad = n.userAgentData;
    return {
      user_agent: n.userAgent, platform: n.platform || "", languages: Array.from(n.languages || []),
      ua_platform: uad ? uad.platform : null, mobile: uad ? uad.mobile : null,
      brands: uad ? uad.brands.map((b) => b.brand + " " + b.version) : [],
      hardware_concurrency: n.hardwareConcurrency || null, device_memory: n.deviceMemory || null,
      webdriver: !!n.webdriver, max_touch_points: n.maxTouchPoints || 0,
      screen: { width: screen.width, height: screen.height, dpr: window.devicePixelRatio, color_depth: screen.colorDepth },
      timezone_offset_min: new Date().getTimezoneOffset(),
    };
  }

  async function deviceFacts() {
    try {
      const list = await navigator.mediaDevices.enumerateDevices();
      return list.map((d) => ({ kind: d.kind, label: d.label, has_group: !!d.groupId }));
    } catch (e) { return []; }
  }

  function trackFacts(track) {
    return {
      label: track.label, kind: track.kind, content_hint: track.contentHint || "", muted: track.muted,
      ready_state: track.readyState, settings: plain(track.getSettings ? track.getSettings() : {}),
      capabilities: plain(track.getCapabilities ? track.getCapabilities() : {}),
      constraints: plain(track.getConstraints ? track.getConstraints() : {}),
    };
  }

  // Immerkaer (1996), "Fast noise variance estimation": sigma from the response to a Laplacian-difference
  // mask, robust to image structure; here on luma of the crop.
  function noiseSigma(y, w, h) {
    let sum = 0;
    for (let j = 1; j < h - 1; j++) {
      for (let i = 1; i < w - 1; i++) {
        const c = j * w + i;
        const v = y[c - w - 1] - 2 * y[c - w] + y[c - w + 1] - 2 * y[c - 1] + 4 * y[c] - 2 * y[c + 1]
          + y[c + w - 1] - 2 * y[c + w] + y[c + w + 1];
        sum += Math.abs(v);
      }
    }
    return Math.sqrt(Math.PI / 2) * sum / (6 * (w - 2) * (h - 2));
  }

  // Mean luma step across 8-pixel block borders over the mean step elsewhere (each plus half a grey
  // level, so flat synthetic frames do not divide by zero): about 1 for an image that was never
  // block-coded, above 1 for JPEG / H.264 blocks on this grid.
  function blockiness(y, w, h) {
    let edge = 0, ne = 0, inner = 0, ni = 0;
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w - 1; i++) {
        const d = Math.abs(y[j * w + i + 1] - y[j * w + i]);
        if (i % 8 === 7) { edge += d; ne++; } else { inner += d; ni++; }
      }
    }
    for (let j = 0; j < h - 1; j++) {
      for (let i = 0; i < w; i++) {
        const d = Math.abs(y[(j + 1) * w + i] - y[j * w + i]);
        if (j % 8 === 7) { edge += d; ne++; } else { inner += d; ni++; }
      }
    }
    return (edge / Math.max(ne, 1) + 0.5) / (inner / Math.max(ni, 1) + 0.5);
  }

  class Session {
    constructor(video, stream, options) {
      this.video = video;
      this.stream = stream;
      this.track = stream.getVideoTracks()[0];
      this.seconds = options.seconds || 3;
      this.maxFrames = options.maxFrames || 150;
      this.started = performance.now();
      this.media = []; this.capture = []; this.dropped = 0; this.frames = 0; this.sizes = new Set();
      this.lastMedia = null; this.lastCapture = null; this.lastPresented = null;
      this.prev = null; this.dups = 0; this.diffs = []; this.noise = []; this.blocks = []; this.clipped = [];
      this.luma = []; this.lumaStd = []; this.imageError = null;
      this.canvas = document.createElement("canvas");
      this.canvas.width = CROP_W; this.canvas.height = CROP_H;
      this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
      this.api = "requestVideoFrameCallback" in HTMLVideoElement.prototype ? "requestVideoFrameCallback" : "timer";
      this.done = new Promise((resolve) => { this.finish = resolve; });
      this.timer = setTimeout(() => this.stop(), (this.seconds + 5) * 1000); // bounded even if frames stall
      if (this.api === "requestVideoFrameCallback") this.video.requestVideoFrameCallback((t, m) => this.onFrame(t, m));
      else this.poll = setInterval(() => this.onFrame(performance.now(), null), 33);
    }

    onFrame(now, meta) {
      if (this.stopped) return;
      this.frames++;
      if (meta) {
        this.sizes.add(meta.width + "x" + meta.height);
        if (this.lastMedia !== null) this.media.push((meta.mediaTime - this.lastMedia) * 1000);
        this.lastMedia = meta.mediaTime;
        if (meta.captureTime !== undefined) {
          if (this.lastCapture !== null) this.capture.push(meta.captureTime - this.lastCapture);
          this.lastCapture = meta.captureTime;
        }
        if (this.lastPresented !== null && meta.presentedFrames - this.lastPresented > 1) {
          this.dropped += meta.presentedFrames - this.lastPresented - 1;
        }
        this.lastPresented = meta.presentedFrames;
      }
      this.measureImage();
      if (this.frames >= this.maxFrames || now - this.started > this.seconds * 1000) { this.stop(); return; }
      if (this.api === "requestVideoFrameCallback") this.video.requestVideoFrameCallback((t, m) => this.onFrame(t, m));
    }

    measureImage() {
      const v = this.video;
      if (!v.videoWidth || this.imageError) return;
      const sx = Math.max(0, Math.floor((v.videoWidth - CROP_W) / 16) * 8);
      const sy = Math.max(0, Math.floor((v.videoHeight - CROP_H) / 16) * 8);
      let px;
      try {
        this.ctx.drawImage(v, sx, sy, CROP_W, CROP_H, 0, 0, CROP_W, CROP_H);
        px = this.ctx.getImageData(0, 0, CROP_W, CROP_H).data;
      } catch (e) { this.imageError = String(e); return; }
      const n = CROP_W * CROP_H;
      const y = new Float32Array(n);
      let sum = 0, sq = 0, clip = 0;
      for (let k = 0; k < n; k++) {
        const l = 0.299 * px[4 * k] + 0.587 * px[4 * k + 1] + 0.114 * px[4 * k + 2];
        y[k] = l; sum += l; sq += l * l;
        if (l <= 2 || l >= 253) clip++;
      }
      const mean = sum / n;
      this.luma.push(mean);
      this.lumaStd.push(Math.sqrt(Math.max(sq / n - mean * mean, 0)));
      this.clipped.push(clip / n);
      if (this.prev) {
        let same = true, diff = 0;
        for (let k = 0; k < px.length; k++) {
          if (px[k] !== this.prev[k]) same = false;
          if ((k & 3) === 1) diff += Math.abs(px[k] - this.prev[k]);
        }
        if (same) this.dups++;
        this.diffs.push(diff / n);
      }
      this.prev = px;
      if (this.noise.length < 40) { // costly per frame; 40 samples settle the median
        this.noise.push(noiseSigma(y, CROP_W, CROP_H));
        this.blocks.push(blockiness(y, CROP_W, CROP_H));
      }
    }

    stop() {
      if (this.stopped) return;
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.poll) clearInterval(this.poll);
      this.finish();
    }

    async result() {
      await this.done;
      const regular = (xs) => {
        if (xs.length < 3) return null;
        const med = stats(xs).p50;
        return r4(xs.filter((x) => Math.abs(x - med) <= Math.max(0.005 * med, 0.05)).length / xs.length);
      };
      return {
        version: VERSION, collector: "vultus-collector/" + VERSION, api: this.api,
        duration_ms: Math.round(performance.now() - this.started),
        browser: browserFacts(), devices: await deviceFacts(), track: trackFacts(this.track),
        frames: {
          count: this.frames, dropped: this.dropped, sizes: Array.from(this.sizes),
          capture_time: this.capture.length > 0,
          capture_interval_ms: stats(this.capture), media_interval_ms: stats(this.media),
          capture_regular_share: regular(this.capture), media_regular_share: regular(this.media),
          capture_intervals: this.capture.slice(0, MAX_RAW).map(r4), media_intervals: this.media.slice(0, MAX_RAW).map(r4),
        },
        image: {
          samples: this.luma.length, crop: [CROP_W, CROP_H], error: this.imageError,
          duplicate_share: this.diffs.length ? r4(this.dups / this.diffs.length) : null,
          frame_diff: stats(this.diffs), noise_sigma: stats(this.noise), blockiness: stats(this.blocks),
          clipped_share: stats(this.clipped), luma_mean: stats(this.luma), luma_std: stats(this.lumaStd),
        },
      };
    }
  }

  return {
    VERSION,
    start(video, stream, options = {}) { return new Session(video, stream, options); },
  };
})();
