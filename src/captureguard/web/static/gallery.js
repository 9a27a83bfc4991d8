// The gallery page: the guarded photos and recordings, with download and delete.
import { describeError, el, loadSession, markNav, request, t } from "./common.js";

const grid = document.querySelector("#grid");
const empty = document.querySelector("#empty");
const message = document.querySelector("#message");

function say(text, kind = "") {
  message.textContent = text;
  message.className = `message ${kind}`;
}

function sizeText(bytes) {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

function card(item) {
  const url = `/api/gallery/${item.kind}/${encodeURIComponent(item.name)}`;
  const media = item.kind === "videos"
    ? el("video", { controls: true, preload: "metadata", src: url })
    : el("a", { href: url }, el("img", { src: url, alt: item.name, loading: "lazy" }));
  const when = new Date(item.modified * 1000).toLocaleString();
  const remove = el("button", { type: "button", className: "button danger" }, t("delete"));
  remove.addEventListener("click", () => removeItem(item));
  return el("article", { className: "card", dataset: { name: item.name, kind: item.kind } },
    media,
    el("div", { className: "meta" }, item.name, el("br"), `${when} · ${sizeText(item.bytes)}`),
    el("div", { className: "actions" },
      el("a", { className: "button", href: `${url}?download=1`, download: item.name }, t("download")),
      remove));
}

async function removeItem(item) {
  if (!window.confirm(t("confirm_delete", { name: item.name }))) return;
  const answer = await request(`/api/gallery/${item.kind}/${encodeURIComponent(item.name)}`, { method: "DELETE" });
  if (answer.ok) {
    say("");
    await refresh();
  } else {
    say(describeError(answer), "error");
  }
}

async function refresh() {
  const answer = await request("/api/gallery");
  if (!answer.ok) {
    say(describeError(answer), "error");
    return;
  }
  const items = answer.data.items ?? [];
  grid.replaceChildren(...items.map(card));
  empty.hidden = items.length > 0;
}

async function start() {
  markNav();
  try {
    await loadSession();
  } catch (err) {
    say(String(err.message ?? err), "error");
    return;
  }
  await refresh();
}

start();
