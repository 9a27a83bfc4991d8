// The camera page. Safety rule: the camera is never drawn. The <video> that receives
// getUserMedia is never attached to the document; frames are copied to an off-screen canvas,
// JPEG-encoded and sent to the guard over /ws/viewfinder. The visible #viewfinder canvas draws
// only the JPEGs the guard sends back (released frames or its placeholder).
import { describeError, loadSession, request, t } from "./common.js";

// Frames sent without an answer ("frame" or "dropped"); the protocol allows 3. On 2 cores
// (bench/web.py, 30 fps camera) 2 gives the same fps as 3 with ~40% less round trip; 1 loses fps.
const MAX_IN_FLIGHT = 2;
const SEND_WIDTH = 640;       // viewfinder frames are scaled to this width
const SEND_QUALITY = 0.8;
const PHOTO_QUALITY = 0.95;
const STATS_WINDOW = 30;      // latencies kept for the median / p90

const $ = (sel) => document.querySelector(sel);
const viewfinder = $("#viewfinder");
const view = viewfinder.getContext("2d");
const notice = $("#notice");
const statusBox = $("#status");
const statusText = statusBox.querySelector(".status-text");
const retryButton = $("#retry");
const shutter = $("#shutter");
const recordButton = $("#record");
const recBadge = $("#rec");
const statsLine = $("#stats");
const recNote = $("#rec-note");
const photoResult = $("#photo-result");

// Off the document on purpose (never appended): see the safety rule above.
const video = document.createElement("video");
video.muted = true;
video.playsInline = true;
window.captureguardCamera = video;  // test hook: what the camera currently shows

const sendCanvas = detachedCanvas(SEND_WIDTH, 480);
const sendContext = sendCanvas.getContext("2d");

let session = null;
let stream = null;
let socket = null;
let generation = 0;       // bumps on every (re)connect so stale callbacks do nothing
let sentAt = [];          // send times (ms) of the frames awaiting an answer, oldest first
let encoding = false;
let newCameraFrame = true;
let pendingFrame = null;  // the "frame" message whose JPEG is the next binary message
let drawChain = Promise.resolve();
let recording = false;
let stopping = false; // a stop was sent; its answer comes once the held frames are in

const stats = {
  sent: 0, drawn: 0, dropped: 0, blocked: 0, fps: 0,
  latency_ms_median: null, latency_ms_p90: null, latencies: [], server_latencies: [],
  latency_log: [],        // every round trip (ms), the first 10000: for benchmarks
  drawTimes: [], blockedNow: false,
};
window.captureguardStats = stats;

/** A canvas that is not in the DOM (a detached <canvas>: toBlob works everywhere). */
function detachedCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function showStatus(text, { retry = false } = {}) {
  statusText.textContent = text;
  retryButton.hidden = !retry;
  statusBox.hidden = false;
}

function hideStatus() {
  statusBox.hidden = true;
}

function fillNotice(root, texts) {
  for (const key of ["title", "body", "law", "help"]) {
    const node = root.querySelector(`.notice-${key}`);
    node.textContent = texts?.[key] ?? "";
    node.hidden = !texts?.[key];
  }
}

function showViewfinderNotice(texts) {
  const fallback = session?.messages?.viewfinder ?? session?.messages?.blocked;
  fillNotice(notice, texts ?? fallback ?? { title: t("error") });
  notice.hidden = false;
}

function clearViewfinder() {
  view.fillStyle = "#0b0d10";
  view.fillRect(0, 0, viewfinder.width, viewfinder.height);
}

// ---- statistics ------------------------------------------------------------------------

function percentile(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function noteDrawn(latency) {
  const now = performance.now();
  stats.drawn += 1;
  stats.drawTimes.push(now);
  while (stats.drawTimes.length && now - stats.drawTimes[0] > 2000) stats.drawTimes.shift();
  const span = stats.drawTimes.length > 1 ? (now - stats.drawTimes[0]) / 1000 : 0;
  stats.fps = span > 0 ? Math.round(((stats.drawTimes.length - 1) / span) * 10) / 10 : 0;
  if (latency !== null) {
    stats.latencies.push(latency);
    if (stats.latency_log.length < 10000) stats.latency_log.push(Math.round(latency));
    if (stats.latencies.length > STATS_WINDOW) stats.latencies.shift();
    const sorted = [...stats.latencies].sort((a, b) => a - b);
    stats.latency_ms_median = Math.round(percentile(sorted, 0.5));
    stats.latency_ms_p90 = Math.round(percentile(sorted, 0.9));
  }
  statsLine.textContent = t("stats", {
    fps: stats.fps.toFixed(1), lat: stats.latency_ms_median ?? "–", blocked: stats.blocked,
  });
}

// ---- camera ----------------------------------------------------------------------------

async function startCamera() {
  if (stream && stream.active) return true;
  showStatus(t("starting"));
  if (!navigator.mediaDevices?.getUserMedia) {
    showStatus(t("cam_missing"), { retry: true });
    return false;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
    });
  } catch (err) {
    const name = err?.name ?? "";
    if (name === "NotAllowedError" || name === "SecurityError") showStatus(t("cam_denied"), { retry: true });
    else if (name === "NotFoundError" || name === "OverconstrainedError") showStatus(t("cam_missing"), { retry: true });
    else showStatus(`${t("cam_error")}: ${err?.message || name}`, { retry: true });
    return false;
  }
  video.srcObject = stream;
  await video.play();
  if ("requestVideoFrameCallback" in video) {
    const onFrame = () => { newCameraFrame = true; pump(); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    setInterval(() => { newCameraFrame = true; pump(); }, 33);
  }
  return true;
}

// ---- viewfinder socket -----------------------------------------------------------------

function connect() {
  generation += 1;
  const mine = generation;
  sentAt = [];
  pendingFrame = null;
  encoding = false;
  showStatus(t("connecting"));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/viewfinder`);
  ws.binaryType = "blob";
  socket = ws;
  ws.addEventListener("open", () => {
    if (mine !== generation) return;
    ws.send(JSON.stringify({ type: "hello", csrf: session.csrf_token }));
    hideStatus();
    shutter.disabled = false;
    recordButton.disabled = false;
    pump();
  });
  ws.addEventListener("message", (event) => { if (mine === generation) onMessage(event.data); });
  ws.addEventListener("close", (event) => { if (mine === generation) onClose(event); });
}

function onClose(event) {
  socket = null;
  sentAt = [];
  recordButton.disabled = true;
  shutter.disabled = true;
  setRecording(false, null);
  clearViewfinder();
  notice.hidden = true;
  if (event.code === 1013) showStatus(t("ws_busy"), { retry: true });
  else showStatus(`${t("ws_closed")}${event.reason ? ` (${event.reason})` : ""}`, { retry: true });
}

function onMessage(data) {
  if (typeof data !== "string") {
    const meta = pendingFrame;
    pendingFrame = null;
    if (meta) drawChain = drawChain.then(() => drawAnswer(data, meta));
    return;
  }
  let msg;
  try { msg = JSON.parse(data); } catch { return; }
  if (msg.type === "frame") {
    const sent = sentAt.shift();
    pendingFrame = { msg, sent: sent ?? null };
    if (msg.blocked) stats.blocked += 1;
    stats.server_latencies.push(msg.latency_ms);
    if (stats.server_latencies.length > STATS_WINDOW) stats.server_latencies.shift();
    pump();
  } else if (msg.type === "dropped") {
    sentAt.shift();
    stats.dropped += 1;
    pump();
  } else if (msg.type === "recording") {
    setRecording(Boolean(msg.on), msg.reason, msg.name);
  } else if (msg.type === "error") {
    showStatus(`${t("ws_error")}: ${msg.detail ?? ""}`, { retry: true });
  }
}

async function drawAnswer(blob, { msg, sent }) {
  let bitmap;
  try { bitmap = await createImageBitmap(blob); } catch { return; }
  if (viewfinder.width !== bitmap.width || viewfinder.height !== bitmap.height) {
    viewfinder.width = bitmap.width;
    viewfinder.height = bitmap.height;
  }
  view.drawImage(bitmap, 0, 0);
  bitmap.close();
  stats.blockedNow = Boolean(msg.blocked);
  if (msg.blocked) showViewfinderNotice(msg.notice);
  else notice.hidden = true;
  noteDrawn(sent === null ? null : performance.now() - sent);
}

/** Send the newest camera frame when the socket has room (at most MAX_IN_FLIGHT unanswered). */
function pump() {
  if (!socket || socket.readyState !== WebSocket.OPEN || encoding || !newCameraFrame) return;
  if (sentAt.length >= MAX_IN_FLIGHT || !video.videoWidth) return;
  const ws = socket;
  encoding = true;
  newCameraFrame = false;
  const width = Math.min(SEND_WIDTH, video.videoWidth);
  const height = Math.round((video.videoHeight * width) / video.videoWidth);
  if (sendCanvas.width !== width || sendCanvas.height !== height) {
    sendCanvas.width = width;
    sendCanvas.height = height;
  }
  sendContext.drawImage(video, 0, 0, width, height);
  sendCanvas.toBlob((blob) => {
    encoding = false;
    if (!blob || ws !== socket || ws.readyState !== WebSocket.OPEN) return;
    sentAt.push(performance.now());
    stats.sent += 1;
    ws.send(blob);
    pump();
  }, "image/jpeg", SEND_QUALITY);
}

// ---- record ----------------------------------------------------------------------------

function setRecording(on, reason, name = null) {
  const was = recording;
  recording = on;
  if (stopping) {
    stopping = false;
    recordButton.disabled = !(socket && socket.readyState === WebSocket.OPEN);
  }
  recBadge.hidden = !on;
  recordButton.setAttribute("aria-pressed", String(on));
  recordButton.classList.toggle("on", on);
  recordButton.querySelector(".record-label").textContent = on ? t("stop") : t("record");
  if (on) {
    recNote.replaceChildren();
  } else if (was && reason && (name || reason !== "stopped")) {
    const key = { blocked: "rec_blocked", error: "rec_error" }[reason] ?? "rec_saved";
    recNote.replaceChildren(t(key));
    if (name) {
      const link = document.createElement("a");
      link.href = "/gallery";
      link.textContent = name;
      recNote.append(" ", link);
    }
  }
}

recordButton.addEventListener("click", () => {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  if (recording) {
    // Recordings are held back (serve --record-hold-s): the server saves the file once the frames
    // captured before this click have been checked and held, about half a second.
    stopping = true;
    recordButton.disabled = true;
    recordButton.querySelector(".record-label").textContent = t("stopping");
  }
  socket.send(JSON.stringify({ type: "record", on: !recording }));
});

// ---- shutter ---------------------------------------------------------------------------

function grabPhoto() {
  const canvas = detachedCanvas(video.videoWidth, video.videoHeight);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", PHOTO_QUALITY));
}

function showPhotoResult(kind, texts, onConfirm) {
  const saved = photoResult.querySelector(".photo-saved");
  const panel = photoResult.querySelector(".photo-notice");
  saved.hidden = kind !== "saved";
  panel.hidden = kind === "saved";
  panel.dataset.kind = kind;
  if (kind === "saved") {
    const url = `/api/gallery/photos/${encodeURIComponent(texts.name)}`;
    photoResult.querySelector(".photo-thumb").src = url;
    photoResult.querySelector(".photo-link").href = url;
    photoResult.querySelector(".photo-open").href = url;
  } else {
    fillNotice(panel, texts);
    const confirm = panel.querySelector(".confirm");
    confirm.hidden = !onConfirm;
    confirm.textContent = texts?.confirm ?? session?.messages?.warn?.confirm ?? "OK";
    confirm.onclick = onConfirm ?? null;
  }
  photoResult.hidden = false;
}

async function sendPhoto(blob, confirm) {
  shutter.disabled = true;
  try {
    const answer = await request(`/api/photo?confirm=${confirm ? 1 : 0}`, {
      method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" },
    });
    const data = answer.data;
    if (answer.ok && data.saved) {
      showPhotoResult("saved", { name: data.name });
    } else if (data.decision === "warn" && !confirm) {
      showPhotoResult("warn", data.message, () => { photoResult.hidden = true; sendPhoto(blob, true); });
    } else if (data.message) {
      showPhotoResult(data.decision === "block" ? "blocked" : "error", data.message);
    } else {
      showPhotoResult("error", { title: t("photo_failed"), body: describeError(answer) });
    }
  } catch (err) {
    showPhotoResult("error", { title: t("photo_failed"), body: String(err?.message ?? err) });
  } finally {
    shutter.disabled = !socket;
  }
}

shutter.addEventListener("click", async () => {
  if (!video.videoWidth) return;
  const blob = await grabPhoto();
  if (blob) await sendPhoto(blob, false);
});

photoResult.querySelector(".close").addEventListener("click", () => { photoResult.hidden = true; });

// ---- start -----------------------------------------------------------------------------

async function start() {
  retryButton.hidden = true;
  try {
    session = await loadSession({ refresh: true });
  } catch (err) {
    showStatus(`${t("ws_closed")} ${err?.message ?? ""}`, { retry: true });
    return;
  }
  // A damaged admin PIN file: the camera works with the strictest settings, which nobody can change.
  $("#settings-locked").textContent = session.settings_locked
    ? "Settings are locked because the admin PIN file is damaged; the strictest protection is on."
    : "";
  clearViewfinder();
  if (!(await startCamera())) return;
  if (!socket) connect();
}

retryButton.addEventListener("click", start);
start();
