// The vultus web page: plain JavaScript over the same /v1 API any client uses. No build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SECTIONS = ["identify", "enroll", "verify", "gallery", "video"];
const KEY = "vultus-key"; // sessionStorage: the key lives as long as this tab, never in a cookie
const shots = []; // webcam photos waiting to be enrolled (Blobs)
let objectUrls = []; // thumbnails fetched with the key, shown through blob: URLs

// ---- talking to the API ------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + sessionStorage.getItem(KEY) }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401 && path !== "/v1/me") signOut("Your key was refused; sign in again.");
  if (!res.ok) {
    let detail = res.status + " " + res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not a problem body */ }
    throw new Error(detail);
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.blob();
}

function say(text, isError = false) {
  const s = $("#status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { await fn(); } catch (e) { say(e.message, true); } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---- sign in and navigation --------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const me = await api("/v1/me");
    $("#who-text").textContent = "Key " + me.id + (me.name ? " (" + me.name + ")" : "") + ", scope " + me.scope;
    document.body.dataset.scope = me.scope; // a read key does not see what it may not do
    $("#nav").hidden = false;
    $("#who").hidden = false;
    $("#signin").hidden = true;
    show();
    say("Signed in.");
  } catch (e) {
    sessionStorage.removeItem(KEY);
    say("Sign-in failed: " + e.message, true);
  }
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  stopCamera();
  $("#nav").hidden = true;
  $("#who").hidden = true;
  SECTIONS.forEach((s) => { $("#" + s).hidden = true; });
  $("#signin").hidden = false;
  $("#key").value = "";
  say(message || "Signed out.");
}

function show() {
  if (!sessionStorage.getItem(KEY)) return;
  const name = SECTIONS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "identify";
  SECTIONS.forEach((s) => { $("#" + s).hidden = s !== name; });
  document.querySelectorAll("#nav a").forEach((a) => {
    if (a.getAttribute("href") === "#" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  if (name === "gallery") loadGallery();
  if (name !== "enroll") stopCamera();
  if (name !== "verify") VultusLiveness.stopVerifyCamera();
}

// ---- identify: boxes and names drawn over the photo ---------------------------------------------
async function identify(ev) {
  ev.preventDefault();
  const file = $("#identify-file").files[0];
  if (!file) return;
  await busy(ev.submitter, async () => {
    say("Identifying…");
    const form = new FormData();
    form.append("image", file);
    const out = await api("/v1/identify", { method: "POST", body: form });
    await drawFaces(file, out);
    const known = out.faces.filter((f) => f.known).length;
    say(out.faces.length + " face(s): " + known + " known, " + (out.faces.length - known) + " unknown.");
  });
}

async function drawFaces(file, out) {
  const img = await createImageBitmap(file, { imageOrientation: "from-image" });
  const canvas = $("#identify-canvas");
  canvas.width = out.width;
  canvas.height = out.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, out.width, out.height);
  const line = Math.max(2, Math.round(Math.max(out.width, out.height) / 300));
  const list = $("#identify-list");
  list.replaceChildren();
  out.faces.forEach((f, i) => {
    const [x1, y1, x2, y2] = f.box;
    const color = f.known ? "#1b7f3b" : "#c0392b";
    const label = (i + 1) + ". " + (f.identity || "unknown") + " " + f.score.toFixed(2);
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.font = "bold " + (8 * line) + "px system-ui, sans-serif";
    const w = ctx.measureText(label).width + 4 * line;
    const h = 10 * line;
    const ty = y1 - h >= 0 ? y1 - h : y2;
    ctx.fillStyle = color;
    ctx.fillRect(x1, ty, w, h);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x1 + 2 * line, ty + 8 * line);
    const li = document.createElement("li");
    li.textContent = (f.identity || "Unknown person") + " (score " + f.score.toFixed(3) + ", threshold "
      + f.threshold.toFixed(3) + ")";
    li.className = f.known ? "known" : "unknown";
    list.append(li);
  });
  canvas.setAttribute("aria-label", "The photo with " + out.faces.length + " face(s) boxed: "
    + (out.faces.map((f) => f.identity || "unknown").join(", ") || "none"));
  $("#identify-figure").hidden = false;
}

// ---- enroll: uploads and webcam photos ----------------------------------------------------------
let stream = null;

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    say("No webcam: " + e.message, true);
    return;
  }
  const video = $("#cam");
  video.srcObject = stream;
  video.hidden = false;
  VultusLiveness.watch(video, stream); // records the capture session for the liveness check
  $("#cam-snap").disabled = false;
  $("#cam-stop").disabled = false;
  $("#cam-start").disabled = true;
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("#cam").hidden = true;
  $("#cam-snap").disabled = true;
  $("#cam-stop").disabled = true;
  $("#cam-start").disabled = false;
}

function snap() {
  const video = $("#cam");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    shots.push(blob);
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = URL.createObjectURL(blob);
    img.alt = "Webcam photo " + shots.length;
    li.append(img);
    $("#shots").append(li);
    say(shots.length + " webcam photo(s) taken.");
  }, "image/jpeg", 0.92);
}

async function enroll(ev) {
  ev.preventDefault();
  const name = $("#enroll-name").value.trim();
  const files = Array.from($("#enroll-files").files);
  if (!files.length && !shots.length) { say("Choose photos or take some with the webcam.", true); return; }
  await busy(ev.submitter, async () => {
    const form = new FormData();
    const params = new URLSearchParams();
    if (shots.length) { // webcam photos: check liveness first, and send the capture session along
      say("Checking liveness…");
      const check = await VultusLiveness.precheck(api, $("#cam"), shots[shots.length - 1]);
      if ($("#enroll-liveness").checked) {
        if (!check.ok) throw new Error(check.text + " Not enrolled.");
        params.set("liveness", "true");
      }
      if (check.session) form.append("session", JSON.stringify(check.session));
    }
    say("Enrolling " + name + "…");
    form.append("name", name);
    files.forEach((f) => form.append("images", f));
    shots.forEach((b, i) => form.append("images", b, "webcam-" + (i + 1) + ".jpg"));
    if ($("#enroll-force").checked) params.set("force", "true");
    const out = await api("/v1/identities" + (params.size ? "?" + params : ""), { method: "POST", body: form });
    const skipped = out.skipped.map((s) => s.input + ": " + s.reason).join("; ");
    say("Enrolled " + out.name + ": " + out.added + " face(s) added." + (skipped ? " Skipped " + skipped : ""));
    ev.target.reset();
    shots.length = 0;
    $("#shots").replaceChildren();
  });
}

// ---- verify ------------------------------------------------------------------------------------
async function verify(ev) {
  ev.preventDefault();
  const a = $("#verify-a").files[0];
  const b = $("#verify-b").files[0] || VultusLiveness.verifyShot(); // a file, or the webcam photo
  if (!b) { say("Choose the second photo or take it with the webcam.", true); return; }
  await busy(ev.submitter, async () => {
    const form = new FormData();
    let query = "";
    if (!$("#verify-b").files[0]) { // from the webcam: check liveness first, send the session along
      say("Checking liveness…");
      const check = await VultusLiveness.precheck(api, VultusLiveness.verifyVideo(), b);
      if ($("#verify-liveness").checked) {
        if (!check.ok) throw new Error(check.text + " Not verified.");
        query = "?liveness=true";
      }
      if (check.session) form.append("session", JSON.stringify(check.session));
    }
    say("Comparing…");
    form.append("a", a);
    form.append("b", b, "b.jpg");
    const out = await api("/v1/verify" + query, { method: "POST", body: form });
    $("#verify-img-a").src = URL.createObjectURL(a);
    $("#verify-img-b").src = URL.createObjectURL(b);
    const r = $("#verify-result");
    r.textContent = (out.same ? "Same person" : "Different people") + " (score " + out.score.toFixed(3)
      + ", threshold " + out.threshold.toFixed(3) + ")";
    r.className = "verdict " + (out.same ? "known" : "unknown");
    $("#verify-out").hidden = false;
    say(r.textContent + ".");
  });
}

// ---- gallery: browse, rename, delete ------------------------------------------------------------
async function loadGallery() {
  try {
    const people = await api("/v1/identities");
    objectUrls.forEach((u) => URL.revokeObjectURL(u));
    objectUrls = [];
    const list = $("#gallery-list");
    list.replaceChildren(...people.map(card));
    $("#gallery-count").textContent = people.length + " identit" + (people.length === 1 ? "y" : "ies");
    for (const p of people) await loadThumbs(p.name); // one by one: gentle on a small server
  } catch (e) { say(e.message, true); }
}

function card(person) {
  const li = document.createElement("li");
  li.className = "card";
  li.dataset.name = person.name;
  const h = document.createElement("h3");
  h.textContent = person.name;
  const thumbs = document.createElement("div");
  thumbs.className = "thumbs";
  const info = document.createElement("p");
  info.textContent = person.faces + " face(s)";
  const rename = document.createElement("form");
  rename.className = "rename needs-enroll";
  const id = "rename-" + Math.random().toString(36).slice(2);
  rename.innerHTML = '<label for="' + id + '">New name</label><input id="' + id + '" required maxlength="200">'
    + '<button type="submit">Rename</button>';
  rename.addEventListener("submit", (ev) => renameIdentity(ev, person.name));
  const del = document.createElement("button");
  del.type = "button";
  del.className = "danger needs-enroll";
  del.textContent = "Delete";
  del.setAttribute("aria-label", "Delete " + person.name);
  del.addEventListener("click", () => deleteIdentity(person.name, del));
  li.append(h, thumbs, info, rename, del);
  return li;
}

async function loadThumbs(name) {
  const detail = await api("/v1/identities/" + encodeURIComponent(name));
  const box = Array.from(document.querySelectorAll("#gallery-list .card")).find((c) => c.dataset.name === name);
  if (!box) return;
  const thumbs = box.querySelector(".thumbs");
  for (const [i, f] of detail.face_records.slice(0, 6).entries()) {
    const blob = await api(f.thumbnail);
    const url = URL.createObjectURL(blob);
    objectUrls.push(url);
    const img = document.createElement("img");
    img.src = url;
    img.alt = "Face " + (i + 1) + " of " + name;
    thumbs.append(img);
  }
}

async function renameIdentity(ev, name) {
  ev.preventDefault();
  const input = ev.target.querySelector("input");
  await busy(ev.submitter, async () => {
    await api("/v1/identities/" + encodeURIComponent(name), {
      method: "PATCH", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: input.value.trim() }),
    });
    say("Renamed " + name + " to " + input.value.trim() + ".");
    await loadGallery();
  });
}

function confirmDialog(text) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"),
    { once: true }));
}

async function deleteIdentity(name, button) {
  if (!(await confirmDialog("Delete " + name + " with all their faces and thumbnails? This cannot be undone."))) return;
  await busy(button, async () => {
    const out = await api("/v1/identities/" + encodeURIComponent(name), { method: "DELETE" });
    say("Deleted " + out.name + " (" + out.removed_faces + " face(s)).");
    await loadGallery();
  });
}

// ---- video jobs: progress, then a timeline of the tracks ----------------------------------------
async function uploadVideo(ev) {
  ev.preventDefault();
  const file = $("#video-file").files[0];
  const stride = Math.max(1, parseInt($("#video-stride").value, 10) || 1);
  await busy(ev.submitter, async () => {
    say("Uploading " + file.name + "…");
    const form = new FormData();
    form.append("video", file);
    const job = await api("/v1/video/jobs?stride=" + stride, { method: "POST", body: form });
    $("#job").hidden = false;
    $("#job-name").textContent = file.name;
    $("#tracks").hidden = true;
    $("#timeline").replaceChildren();
    $("#job-download").hidden = true;
    await pollJob(job.id);
  });
}

async function pollJob(id) {
  const started = Date.now();
  for (let i = 0; i < 7200 && Date.now() - started < 2 * 3600 * 1000; i++) { // bounded: two hours at most
    const job = await api("/v1/video/jobs/" + id);
    const pct = job.progress == null ? "" : " " + Math.round(job.progress * 100) + "%";
    $("#job-status").textContent = job.status + pct + " (" + job.frames_done + " frames)";
    if (job.progress != null) $("#job-progress").value = job.progress;
    else $("#job-progress").removeAttribute("value"); // unknown length: an indeterminate bar
    if (job.status === "done") {
      const result = await api(job.result);
      timeline(result);
      const blob = new Blob([JSON.stringify(result, null, 1)], { type: "application/json" });
      const a = $("#job-download");
      a.href = URL.createObjectURL(blob);
      a.download = "vultus-video-" + id + ".json";
      a.hidden = false;
      say("Video analyzed: " + result.tracks.length + " face track(s)." + (result.error ? " Stopped early: " + result.error : ""));
      return;
    }
    if (job.status === "failed" || job.status === "cancelled") { say("Video job " + job.status + ": " + (job.error || ""), true); return; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function timeline(result) {
  // one lane per person (an identity, or one cluster of unknown faces), with a bar per track
  const duration = result.duration || result.last_time || Math.max(1, ...result.tracks.map((t) => t.last_time));
  const lanes = new Map();
  result.tracks.forEach((t) => {
    const name = t.label || t.identity || "unknown";
    if (!lanes.has(name)) lanes.set(name, []);
    lanes.get(name).push(t);
  });
  const box = $("#timeline");
  box.replaceChildren();
  for (const [name, tracks] of lanes) {
    const row = document.createElement("div");
    row.className = "lane";
    const label = document.createElement("span");
    label.className = "lane-label";
    label.textContent = name;
    const lane = document.createElement("span");
    lane.className = "lane-track";
    tracks.forEach((t) => {
      const bar = document.createElement("span");
      bar.className = "bar " + (t.identity ? "known" : "unknown");
      bar.style.left = Math.min(100, 100 * t.first_time / duration) + "%";
      bar.style.width = Math.max(0.5, Math.min(100, 100 * (t.last_time - t.first_time) / duration)) + "%";
      bar.title = name + ": " + t.first_time.toFixed(1) + "–" + t.last_time.toFixed(1) + " s";
      lane.append(bar);
    });
    row.append(label, lane);
    box.append(row);
  }
  const axis = document.createElement("div");
  axis.className = "lane axis";
  axis.setAttribute("aria-hidden", "true");
  const ticks = document.createElement("span");
  ticks.className = "ticks";
  [0, 0.25, 0.5, 0.75, 1].forEach((f) => {
    const tick = document.createElement("span");
    tick.textContent = (f * duration).toFixed(1) + " s";
    ticks.append(tick);
  });
  axis.append(document.createElement("span"), ticks);
  box.append(axis);
  const body = $("#tracks tbody");
  body.replaceChildren();
  result.tracks.forEach((t) => {
    const tr = document.createElement("tr");
    [t.track_id, t.label || t.identity || "unknown", t.score == null ? "" : t.score.toFixed(3), t.first_time.toFixed(2),
      t.last_time.toFixed(2)].forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.append(td); });
    body.append(tr);
  });
  box.setAttribute("aria-label", "Timeline of " + lanes.size + " people in " + result.tracks.length
    + " face track(s) over " + duration.toFixed(1) + " seconds; the table below lists them");
  $("#tracks").hidden = false;
}

// ---- wiring ------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#key").value.trim()); });
  $("#signout").addEventListener("click", () => signOut());
  $("#identify-form").addEventListener("submit", identify);
  $("#enroll-form").addEventListener("submit", enroll);
  $("#verify-form").addEventListener("submit", verify);
  $("#video-form").addEventListener("submit", uploadVideo);
  $("#gallery-refresh").addEventListener("click", loadGallery);
  $("#cam-start").addEventListener("click", startCamera);
  $("#cam-stop").addEventListener("click", stopCamera);
  $("#cam-snap").addEventListener("click", snap);
  window.addEventListener("hashchange", show);
  const key = sessionStorage.getItem(KEY);
  if (key) signIn(key);
});
