// Shared helpers of the captureguard pages: the session (CSRF token, settings, messages),
// JSON requests that carry the CSRF header, and light localization of the page chrome.
// Texts shown when something is held back come localized from the server; these are only
// the labels of buttons, headings and status lines.

const CHROME = {
  en: {
    nav_camera: "Camera", nav_gallery: "Gallery", nav_events: "Events", nav_settings: "Settings",
    shutter: "Take photo", record: "Record", stop: "Stop", stopping: "Saving…", rec: "REC",
    starting: "Starting the camera…", connecting: "Connecting to the guard…",
    retry: "Try again", close: "Close", saved: "Saved", open_photo: "Open photo",
    cam_denied: "Camera access was refused. Allow the camera for this page in the browser settings, then try again.",
    cam_missing: "No camera was found. Connect a camera, then try again.",
    cam_error: "The camera could not be started",
    ws_busy: "Two viewfinders are already open. Close one of them, then try again.",
    ws_closed: "The connection to the guard was lost.",
    ws_error: "The guard reported a problem",
    photo_failed: "The photo could not be sent",
    stats: "{fps} fps · {lat} ms · {blocked} frames held back",
    rec_saved: "Video saved:",
    rec_blocked: "Recording stopped because the camera saw what looks like nudity. Saved so far:",
    rec_error: "Recording stopped: the video could not be written.",
    gallery_title: "Gallery", gallery_empty: "No photos or videos yet.",
    download: "Download", delete: "Delete", confirm_delete: "Delete {name}?",
    events_title: "Events", export_csv: "Export CSV", all: "All",
    col_time: "Time", col_source: "Source", col_decision: "Decision", col_reasons: "Reasons",
    col_scores: "Top scores", col_profile: "Profile", prev: "Previous", next: "Next",
    page_of: "{from}–{to} of {total}", no_events: "No events.",
    settings_title: "Settings", save: "Save settings", saved_settings: "Settings saved.",
    pin_required: "This change relaxes the policy: enter the admin PIN.",
    pin_first: "This change relaxes the policy. Create an admin PIN first (below).",
    wrong_pin: "Wrong PIN. Tries left: {n}.",
    locked: "Too many wrong PINs. Try again in {s} s.",
    pin_create: "Create admin PIN", pin_change: "Change admin PIN", pin_saved: "PIN saved.",
    pin_mismatch: "The two new PINs differ.",
    error: "Something went wrong",
  },
  ja: {
    nav_camera: "カメラ", nav_gallery: "ギャラリー", nav_events: "記録", nav_settings: "設定",
    shutter: "撮影", record: "録画", stop: "停止", stopping: "保存中…", rec: "録画中",
    starting: "カメラを起動しています…", connecting: "ガードに接続しています…",
    retry: "再試行", close: "閉じる", saved: "保存しました", open_photo: "写真を開く",
    cam_denied: "カメラの使用が許可されませんでした。ブラウザの設定でこのページにカメラを許可してから、もう一度お試しください。",
    cam_missing: "カメラが見つかりません。カメラを接続してから、もう一度お試しください。",
    cam_error: "カメラを起動できませんでした",
    ws_busy: "ビューファインダーがすでに2つ開いています。どちらかを閉じてから、もう一度お試しください。",
    ws_closed: "ガードとの接続が切れました。",
    ws_error: "ガードで問題が発生しました",
    photo_failed: "写真を送信できませんでした",
    stats: "{fps} fps · {lat} ms · 非表示 {blocked} フレーム",
    rec_saved: "動画を保存しました：",
    rec_blocked: "裸と思われるものが映ったため、録画を停止しました。保存済み：",
    rec_error: "録画を停止しました：動画を書き込めませんでした。",
    gallery_title: "ギャラリー", gallery_empty: "写真や動画はまだありません。",
    download: "ダウンロード", delete: "削除", confirm_delete: "{name} を削除しますか？",
    events_title: "記録", export_csv: "CSV を書き出す", all: "すべて",
    col_time: "時刻", col_source: "種類", col_decision: "判定", col_reasons: "理由",
    col_scores: "スコア", col_profile: "プロファイル", prev: "前へ", next: "次へ",
    page_of: "{from}–{to} / {total}", no_events: "記録はありません。",
    settings_title: "設定", save: "設定を保存", saved_settings: "設定を保存しました。",
    pin_required: "この変更は制限をゆるめます。管理者 PIN を入力してください。",
    pin_first: "この変更は制限をゆるめます。先に管理者 PIN を作成してください（下）。",
    wrong_pin: "PIN が違います。残り {n} 回。",
    locked: "PIN の誤りが多すぎます。{s} 秒後にもう一度お試しください。",
    pin_create: "管理者 PIN を作成", pin_change: "管理者 PIN を変更", pin_saved: "PIN を保存しました。",
    pin_mismatch: "新しい PIN が一致しません。",
    error: "問題が発生しました",
  },
};

let chrome = CHROME.en;
let current = null;

/** The UI language: the admin's setting, else the browser's first supported language. */
export function pickLanguage(setting) {
  if (setting && setting !== "auto" && CHROME[setting]) return setting;
  for (const lang of navigator.languages || [navigator.language || "en"]) {
    const base = String(lang).toLowerCase().split("-")[0];
    if (CHROME[base]) return base;
  }
  return "en";
}

/** A chrome text with {placeholders} filled in. */
export function t(key, values = {}) {
  const text = chrome[key] ?? CHROME.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
}

/** Fill every [data-i18n] element (text) and [data-i18n-label] element (aria-label, title). */
export function localize(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    el.title = t(el.dataset.i18nLabel);
  }
}

/** GET /api/session once: {csrf_token, settings, profiles, has_pin, messages, limits}. */
export async function loadSession({ refresh = false } = {}) {
  if (current && !refresh) return current;
  const res = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" });
  if (!res.ok) throw new Error(`session: HTTP ${res.status}`);
  current = await res.json();
  const lang = pickLanguage(current.settings?.language);
  chrome = CHROME[lang];
  document.documentElement.lang = lang;
  localize();
  return current;
}

export function csrfToken() {
  return current?.csrf_token ?? "";
}

/**
 * fetch() with the session cookie and, for state-changing methods, the X-CSRF-Token header.
 * Resolves to {ok, status, data} where data is the parsed JSON body (or {} when none).
 */
export async function request(path, { method = "GET", json, body, headers = {} } = {}) {
  const opts = { method, credentials: "same-origin", cache: "no-store", headers: { ...headers } };
  if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrfToken();
  if (json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(json);
  } else if (body !== undefined) {
    opts.body = body;
  }
  const res = await fetch(path, opts);
  let data = {};
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try { data = await res.json(); } catch { data = {}; }
  }
  return { ok: res.ok, status: res.status, data };
}

/** One line for people from an error answer {"error", "detail"}. */
export function describeError(answer) {
  const d = answer?.data ?? {};
  return d.detail || d.error || `${t("error")} (HTTP ${answer?.status ?? "?"})`;
}

/** Make an element: el("td", {className: "x"}, "text", child...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Mark the nav link of the current page. */
export function markNav() {
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
  }
}
