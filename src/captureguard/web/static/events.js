// The event log page: decisions (never pixels), filtered and paged, with a CSV export.
import { describeError, el, loadSession, markNav, request, t } from "./common.js";

const PAGE = 50;
const form = document.querySelector("#filters");
const rows = document.querySelector("#rows");
const range = document.querySelector("#range");
const prev = document.querySelector("#prev");
const next = document.querySelector("#next");
const csv = document.querySelector("#csv");
const message = document.querySelector("#message");
let offset = 0;

function filters() {
  const params = new URLSearchParams();
  for (const name of ["decision", "source"]) {
    const value = form.elements[name].value;
    if (value) params.set(name, value);
  }
  return params;
}

function topScores(scores) {
  return Object.entries(scores ?? {})
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([code, score]) => el("span", { className: "score" }, `${code} ${Number(score).toFixed(2)}`));
}

function row(event) {
  // Reasons and per-model scores only where something was found: on an allowed row a code such as
  // IMAGE_NSFW would read like a nudity finding. Allowed rows show the overall score only.
  const flagged = event.decision === "block" || event.decision === "warn";
  const scores = flagged
    ? topScores(event.scores)
    : [el("span", { className: "score" }, `score ${Number(event.scores?.fused ?? 0).toFixed(2)}`)];
  return el("tr", {},
    el("td", { className: "num" }, new Date(event.time * 1000).toLocaleString()),
    el("td", {}, event.source),
    el("td", {}, el("span", { className: `decision decision-${event.decision}` }, event.decision)),
    el("td", { className: "reasons" }, flagged ? (event.reasons ?? []).join(", ") : "—"),
    el("td", {}, ...scores),
    el("td", {}, event.profile ?? ""));
}

async function refresh() {
  const params = filters();
  csv.href = `/api/events.csv${params.size ? `?${params}` : ""}`;
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  const answer = await request(`/api/events?${params}`);
  if (!answer.ok) {
    message.textContent = describeError(answer);
    message.className = "message error";
    return;
  }
  message.textContent = "";
  const { total = 0, events = [] } = answer.data;
  rows.replaceChildren(...events.map(row));
  if (!events.length) rows.append(el("tr", {}, el("td", { colSpan: 6, className: "empty" }, t("no_events"))));
  range.textContent = total ? t("page_of", { from: offset + 1, to: offset + events.length, total }) : "";
  prev.disabled = offset === 0;
  next.disabled = offset + events.length >= total;
}

form.addEventListener("change", () => { offset = 0; refresh(); });
form.addEventListener("submit", (event) => event.preventDefault());
prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); refresh(); });
next.addEventListener("click", () => { offset += PAGE; refresh(); });

async function start() {
  markNav();
  try {
    await loadSession();
  } catch (err) {
    message.textContent = String(err.message ?? err);
    return;
  }
  await refresh();
}

start();
