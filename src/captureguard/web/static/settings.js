// The settings page. Tightening needs no PIN; anything that relaxes the policy needs the admin
// PIN (the server decides and answers 403 pin_required with the list of relaxations).
import { describeError, el, loadSession, markNav, request, t } from "./common.js";

const form = document.querySelector("#settings");
const message = document.querySelector("#settings-message");
const relaxList = document.querySelector("#relaxations");
const pinForm = document.querySelector("#pin-form");
const pinMessage = document.querySelector("#pin-message");
let state = null;       // last GET /api/settings answer
let countdown = null;

function say(node, text, kind = "") {
  node.textContent = text;
  node.className = `message ${kind}`;
}

function profileNames(profiles) {
  if (Array.isArray(profiles)) return profiles.map((p) => (typeof p === "string" ? p : p.name));
  return Object.keys(profiles ?? {});
}

function profileHint(name) {
  const p = Array.isArray(state.profiles) ? state.profiles.find((x) => x?.name === name) : state.profiles?.[name];
  return typeof p === "object" && p ? (p.description ?? "") : "";
}

function fill(settings) {
  const f = form.elements;
  f.profile.replaceChildren(...profileNames(state.profiles).map((n) => el("option", { value: n }, n)));
  f.profile.value = settings.profile;
  document.querySelector("#profile-hint").textContent = profileHint(settings.profile);
  f.block_score.value = settings.block_score ?? "";
  f.warn_score.value = settings.warn_score ?? "";
  f.placeholder.value = settings.placeholder;
  f.record_on_block.value = settings.record_on_block;
  f.language.value = settings.language;
  f.help_en.value = settings.help_text?.en ?? "";
  f.help_ja.value = settings.help_text?.ja ?? "";
}

function collect() {
  const f = form.elements;
  const score = (input) => (input.value.trim() === "" ? null : Number(input.value));
  const help = {};
  if (f.help_en.value.trim()) help.en = f.help_en.value;
  if (f.help_ja.value.trim()) help.ja = f.help_ja.value;
  return {
    profile: f.profile.value,
    block_score: score(f.block_score),
    warn_score: score(f.warn_score),
    placeholder: f.placeholder.value,
    record_on_block: f.record_on_block.value,
    language: f.language.value,
    help_text: help,
  };
}

function showLocked(node, seconds) {
  clearInterval(countdown);
  let left = Math.ceil(seconds);
  const tick = () => {
    if (left <= 0) {
      clearInterval(countdown);
      say(node, "");
      return;
    }
    say(node, t("locked", { s: left }), "error");
    left -= 1;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function showPinForm(hasPin) {
  const key = hasPin ? "pin_change" : "pin_create";
  document.querySelector("#pin-heading").textContent = t(key);
  document.querySelector("#pin-submit").textContent = t(key);
  document.querySelector("#current-field").hidden = !hasPin;
  document.querySelector("#setup-field").hidden = hasPin;
}

/** A corrupt admin PIN file: show why, and lock every control (the server refuses changes too). */
function showSettingsLocked(reason) {
  say(message, `Settings are locked: ${reason}`, "error");
  for (const f of [form, pinForm]) for (const input of f.elements) input.disabled = true;
}

/** Explain an answer of POST /api/settings or /api/pin that was not 200. */
function explain(node, answer) {
  const d = answer.data ?? {};
  if (answer.status === 423 || d.error === "locked") showLocked(node, d.retry_after_s ?? 30);
  else if (answer.status === 401 || d.error === "wrong_pin") say(node, t("wrong_pin", { n: d.tries_left ?? "?" }), "error");
  else if (d.problems?.length) say(node, d.problems.join(" "), "error");
  else say(node, describeError(answer), "error");
}

async function load() {
  const answer = await request("/api/settings");
  if (!answer.ok) {
    say(message, describeError(answer), "error");
    return;
  }
  state = answer.data;
  fill(state.settings);
  showPinForm(Boolean(state.pin?.has_pin));
  if (state.pin?.locked_for_s > 0) showLocked(message, state.pin.locked_for_s);
  if (state.settings_locked) showSettingsLocked(state.settings_locked);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  relaxList.hidden = true;
  const body = { settings: collect() };
  const pin = form.elements.pin.value;
  if (pin) body.pin = pin;
  const answer = await request("/api/settings", { method: "POST", json: body });
  form.elements.pin.value = "";
  if (answer.ok) {
    clearInterval(countdown);
    say(message, t("saved_settings"), "ok");
    await load();
    return;
  }
  const d = answer.data ?? {};
  if (answer.status === 403 && d.error === "pin_required") {
    say(message, state.pin?.has_pin ? t("pin_required") : t("pin_first"), "error");
    relaxList.replaceChildren(...(d.relaxations ?? []).map((r) => el("li", {}, r)));
    relaxList.hidden = !(d.relaxations ?? []).length;
    if (state.pin?.has_pin) form.elements.pin.focus();
    else pinForm.elements.new.focus();
    return;
  }
  explain(message, answer);
});

form.elements.profile.addEventListener("change", () => {
  document.querySelector("#profile-hint").textContent = profileHint(form.elements.profile.value);
});

pinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = pinForm.elements;
  if (!f.new.value || f.new.value !== f.repeat.value) {
    say(pinMessage, t("pin_mismatch"), "error");
    return;
  }
  const body = { new: f.new.value };
  if (state.pin?.has_pin) body.current = f.current.value;
  else body.setup_code = f.setup_code.value.trim();
  const answer = await request("/api/pin", { method: "POST", json: body });
  for (const input of [f.current, f.new, f.repeat, f.setup_code]) input.value = "";
  if (answer.ok) {
    say(pinMessage, t("pin_saved"), "ok");
    await load();
  } else {
    explain(pinMessage, answer);
  }
});

async function start() {
  markNav();
  try {
    await loadSession();
  } catch (err) {
    say(message, String(err.message ?? err), "error");
    return;
  }
  await load();
}

start();
