// Liveness on the web page: while a webcam runs, the collector (collector.js) records the capture
// session; before a webcam photo is enrolled or verified, a short check asks the server
// (POST /v1/liveness) whether the face is live (presentation attack detection) and the camera genuine
// (virtual camera detection). The server's answer decides: with "Require liveness" ticked the page
// stops on a failed check and asks the server to enforce it too (?liveness=true).
"use strict";

window.VultusLiveness = (() => {
  const sessions = new Map(); // video element -> running collector session
  let verifyStream = null;
  let verifyShot = null;

  function watch(video, stream) {
    sessions.set(video, VultusCollector.start(video, stream, { seconds: 3 }));
  }

  async function session(video) {
    const s = sessions.get(video);
    return s ? s.result() : null;
  }

  function describe(out) {
    const parts = [];
    if (!out.faces.length) parts.push("no face found in the photo");
    out.faces.forEach((f, i) => parts.push("face " + (i + 1) + ": " + (f.live ? "live" : "NOT live") + " (score "
      + f.score.toFixed(2) + ", threshold " + f.threshold.toFixed(2) + ")"));
    if (out.source) {
      const why = out.source.explanations.slice(0, 2).map((e) => e.feature).join(", ");
      parts.push("camera: " + (out.source.genuine ? "genuine" : "looks VIRTUAL") + " (score " + out.source.score.toFixed(2)
        + ", threshold " + out.source.threshold.toFixed(2) + (out.source.genuine ? "" : "; unusual: " + why) + ")");
    }
    return parts.join("; ");
  }

  // The short check: the photo's faces and the session, as the server sees them.
  async function precheck(api, video, photo) {
    const summary = await session(video);
    const form = new FormData();
    form.append("image", photo, "webcam.jpg");
    if (summary) form.append("session", JSON.stringify(summary));
    const out = await api("/v1/liveness", { method: "POST", body: form });
    const ok = out.faces.length > 0 && out.faces.every((f) => f.live) && (!out.source || out.source.genuine);
    const text = "Liveness check: " + describe(out) + ".";
    document.querySelectorAll(".liveness-result").forEach((el) => { el.textContent = text; el.className = "liveness-result " + (ok ? "known" : "unknown"); });
    return { ok, text, session: summary };
  }

  // ---- the verify section's own webcam (the second photo) ----
  async function startVerifyCamera() {
    try {
      verifyStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (e) {
      document.getElementById("status").textContent = "No webcam: " + e.message;
      return;
    }
    const video = document.getElementById("vcam");
    video.srcObject = verifyStream;
    video.hidden = false;
    watch(video, verifyStream);
    document.getElementById("vcam-snap").disabled = false;
    document.getElementById("vcam-start").disabled = true;
  }

  function stopVerifyCamera() {
    if (verifyStream) verifyStream.getTracks().forEach((t) => t.stop());
    verifyStream = null;
    const video = document.getElementById("vcam");
    if (video) video.hidden = true;
    const snap = document.getElementById("vcam-snap");
    if (snap) snap.disabled = true;
    const start = document.getElementById("vcam-start");
    if (start) start.disabled = false;
  }

  function snapVerify() {
    const video = document.getElementById("vcam");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      verifyShot = blob;
      const img = document.getElementById("vcam-shot");
      img.src = URL.createObjectURL(blob);
      img.hidden = false;
    }, "image/jpeg", 0.92);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const start = document.getElementById("vcam-start");
    if (!start) return;
    start.addEventListener("click", startVerifyCamera);
    document.getElementById("vcam-snap").addEventListener("click", snapVerify);
  });

  return {
    watch, session, precheck, stopVerifyCamera,
    verifyShot: () => verifyShot,
    verifyVideo: () => document.getElementById("vcam"),
    clearVerifyShot: () => { verifyShot = null; },
  };
})();
