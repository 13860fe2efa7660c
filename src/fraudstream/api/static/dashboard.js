// fraudstream investigation dashboard: plain ES module, no build step, no dependencies.
// The API key lives in sessionStorage (this tab only) and is sent as X-API-Key; it is
// never written to the console, the URL or the page.
import { drawGraph } from "./graph.js";

const KEY_STORE = "fraudstream.apiKey";
const POLL_MS = 2000;
const $ = (sel) => document.querySelector(sel);

const state = { me: null, alerts: [], selected: null, polling: null, seq: 0 };

/** Build an element; strings become text nodes, so API data is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k === "className" ? "class" : k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, detail, fields) {
    super(detail);
    this.status = status;
    this.code = code;
    this.fields = fields || [];
  }
  toString() {
    const extra = this.fields.map((f) => `${f.field}: ${f.reason}`).join("; ");
    return `${this.status} ${this.code}: ${this.message}${extra ? ` (${extra})` : ""}`;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "network_error", "the API did not answer (is `fraudstream api` running?)");
  }
  if (!res.ok) {
    let payload = {};
    try { payload = await res.json(); } catch { /* not JSON: keep the status text */ }
    throw new ApiError(res.status, payload.error || res.statusText || "error",
      payload.detail || `HTTP ${res.status}`, payload.fields);
  }
  return res.status === 204 ? null : res.json();
}

// ---------------------------------------------------------------- errors and formatting
function showError(err) {
  $("#error-text").textContent = String(err);
  $("#error").hidden = false;
}
function clearError() { $("#error").hidden = true; }

const pad = (n) => String(n).padStart(2, "0");
// The store keeps UTC; SQLite hands timestamps back without an offset, so add one.
const parseTime = (iso) => new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
function fmtTime(iso) {
  if (!iso) return "–";
  const d = parseTime(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}
function fmtAgo(iso) {
  const s = Math.round((Date.now() - parseTime(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return fmtTime(iso).slice(0, 10);
}
function fmtAmount(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  const n = Number(amount).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return currency ? `${n} ${currency}` : n;
}
const shortId = (s, n = 12) => (s && s.length > n ? `${s.slice(0, n)}…` : s || "–");

const REASON_TEXT = {
  amount_ge_900: "Amount ≥ 900", very_high_amount: "Very high amount",
  high_amount_for_card: "High amount for this card", micro_amount_burst: "Burst of micro amounts",
  micro_amount: "Micro amount", round_amount_high: "High round amount",
  card_velocity_1m: "Card velocity (1 min)", card_velocity_1h: "Card velocity (1 h)",
  card_merchant_spree: "Spree across merchants", device_shared_velocity: "Device shared by many cards",
  new_device_new_country: "New device from a new country", new_device_cash_out: "Cash-out from a new device",
};
const words = (s) => s.replace(/[_.]+/g, " ").trim().replace(/^\w/, (c) => c.toUpperCase());
/**
 * A reason code as words and a kind (the chip's colour): "rule:new_device_cash_out" is a
 * rule, "graph:device_shared_by_5_cards" the graph, "blocklist:card_id" a list, a bare
 * feature name ("amount_zscore_by_card") the model's explanation.
 */
export function readableReason(code) {
  const i = code.indexOf(":");
  const prefix = i < 0 ? "" : code.slice(0, i), rest = i < 0 ? code : code.slice(i + 1);
  if (prefix === "rule") return { text: REASON_TEXT[rest] || words(rest), kind: "rule" };
  if (prefix === "shadow") return { text: `${REASON_TEXT[rest] || words(rest)} (shadow rule)`, kind: "shadow" };
  if (prefix.endsWith("list")) return { text: `On ${prefix}: ${words(rest).toLowerCase()}`, kind: "list" };
  if (prefix === "graph") return { text: words(rest), kind: "graph" };
  if (prefix === "score_band") return { text: `Score band ${rest}`, kind: "model" };
  if (prefix === "alert_budget") return { text: "Downgraded by the alert budget", kind: "shadow" };
  if (code === "no_risk_signal") return { text: "No risk signal", kind: "shadow" };
  // Bare codes: upper-case ones are rule ids (AMOUNT_GE_900), others the model's features.
  const lower = code.toLowerCase();
  if (REASON_TEXT[lower]) return { text: REASON_TEXT[lower], kind: "rule" };
  if (code === code.toUpperCase()) return { text: words(lower), kind: "rule" };
  return { text: `Model: ${words(code).toLowerCase()}`, kind: "model" };
}

function actionBadge(action) { return el("span", { className: `badge ${action}` }, action); }
function scoreBar(score) {
  return el("span", { className: "scorebar" },
    el("span", { className: "bar" }, el("span", { className: "fill", style: `width:${Math.round(score * 100)}%` })),
    el("span", { className: "mono" }, score.toFixed(2)));
}

// ---------------------------------------------------------------- sign-in
function askForKey(reason) {
  const dialog = $("#key-dialog");
  $("#key-error").hidden = !reason;
  $("#key-error").textContent = reason ? String(reason) : "";
  $("#api-key").value = "";
  if (!dialog.open) dialog.showModal();
  $("#api-key").focus();
}

async function signIn() {
  try {
    state.me = await api("/api/v1/me");
  } catch (err) {
    sessionStorage.removeItem(KEY_STORE);
    state.me = null;
    stopPolling();
    $("#whoami").textContent = "not signed in";
    askForKey(err);
    return false;
  }
  $("#whoami").textContent = `${state.me.name} · ${state.me.roles.join(", ")}`;
  $("#key-dialog").open && $("#key-dialog").close();
  clearError();
  startPolling();
  route();
  return true;
}

// ---------------------------------------------------------------- alert queue
function queueQuery() {
  const q = new URLSearchParams({ limit: "200" });
  if ($("#filter-action").value) q.set("action", $("#filter-action").value);
  if ($("#filter-status").value) q.set("case_status", $("#filter-status").value);
  return q;
}

async function refreshQueue() {
  if (!state.me) return;
  // A newer request (a filter change, the next tick) wins; a late answer is dropped.
  const seq = ++state.seq;
  const live = $("#live");
  try {
    const page = await api(`/api/v1/alerts?${queueQuery()}`);
    if (seq !== state.seq) return;
    state.alerts = page.items;
    renderQueue(page);
    live.className = "live ok";
    $("#live-text").textContent = `live · updated ${fmtTime(new Date().toISOString()).slice(11, 19)}`;
  } catch (err) {
    live.className = "live down";
    $("#live-text").textContent = "disconnected";
    if (err.status === 401 || err.status === 403) return void signIn();
    showError(err);
  }
}

function renderQueue(page) {
  const rows = page.items.map((a) => {
    const c = a.case;
    return el("tr", {
      className: `alert-row action-${a.action}${a.transaction_id === state.selected ? " selected" : ""}`,
      dataset: { tid: a.transaction_id, action: a.action },
      onclick: () => { location.hash = `#/tx/${encodeURIComponent(a.transaction_id)}`; },
    },
    el("td", {}, actionBadge(a.action)),
    el("td", {}, scoreBar(a.fraud_score)),
    el("td", { className: "mono", title: a.transaction_id }, shortId(a.transaction_id, 18)),
    el("td", { className: "num" }, fmtAmount(a.amount)),
    el("td", {}, c ? el("span", { className: `badge status ${c.status}` }, c.status.replace("_", " ")) : "–",
      c && c.assignee ? el("span", { className: "muted" }, ` ${c.assignee}`) : null),
    el("td", { className: "muted", title: fmtTime(a.created_at) }, fmtAgo(a.created_at)));
  });
  $("#alert-rows").replaceChildren(...rows);
  $("#queue-empty").hidden = rows.length > 0;
  $("#queue-count").textContent = `${page.total} alert${page.total === 1 ? "" : "s"}`;
}

function startPolling() {
  stopPolling();
  refreshQueue();
  state.polling = setInterval(refreshQueue, POLL_MS);
}
function stopPolling() { if (state.polling) clearInterval(state.polling); state.polling = null; }

// ---------------------------------------------------------------- case detail
function route() {
  const m = location.hash.match(/^#\/tx\/(.+)$/);
  state.selected = m ? decodeURIComponent(m[1]) : null;
  document.querySelectorAll("tr.alert-row").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.tid === state.selected));
  if (state.selected && state.me) loadDetail(state.selected);
}

async function loadDetail(tid) {
  const enc = encodeURIComponent(tid);
  try {
    const [tx, graph] = await Promise.all([
      api(`/api/v1/transactions/${enc}`), api(`/api/v1/transactions/${enc}/neighbourhood`)]);
    const audit = tx.case ? await api(`/api/v1/cases/${tx.case.id}/audit`) : [];
    if (state.selected === tid) renderDetail(tx, graph, audit);
  } catch (err) {
    showError(err);
  }
}

function fieldList(tx) {
  const a = tx.alert || {}, s = tx.score || {}, p = tx.payment || {};
  const card = p.card_last4 ? `··${p.card_last4}` : shortId(a.card_id || s.card_id, 14);
  const items = [
    ["Transaction", tx.transaction_id], ["Amount", fmtAmount(p.amount ?? a.amount ?? s.amount, p.currency)],
    ["Card", card], ["Merchant", p.merchant_id], ["Category", p.merchant_category],
    ["Channel / type", p.channel && `${p.channel} · ${p.tx_type}`], ["Device", p.device_id],
    ["IP address", p.ip_address],
    ["Countries", p.customer_country && `${p.customer_country} → ${p.merchant_country}`],
    ["Event time", fmtTime(p.event_time || tx.event_time)], ["Scored", fmtTime(s.scored_at || a.created_at)],
    ["Model", a.model_version || s.model_version],
  ];
  return el("dl", { className: "fields" }, items.map(([k, v]) =>
    el("div", {}, el("dt", {}, k), el("dd", { title: v || "" }, v || "–"))));
}

function caseSection(tx, audit) {
  const c = tx.case;
  if (!c) return el("p", { className: "muted" }, "No case is open for this transaction.");
  const closed = c.status === "CLOSED";
  const note = el("textarea", { id: "verdict-note", placeholder: "Note (saved with the verdict, or on its own with Add note)" });
  const act = (fn) => async (ev) => {
    ev.preventDefault();
    document.querySelectorAll("#detail button").forEach((b) => { b.disabled = true; });
    try {
      await fn();
      clearError();
      await Promise.all([loadDetail(tx.transaction_id), refreshQueue()]);
    } catch (err) {
      showError(err);
      document.querySelectorAll("#detail button").forEach((b) => { b.disabled = false; });
    }
  };
  const verdict = (v) => act(async () => {
    if (note.value.trim()) await api(`/api/v1/cases/${c.id}/notes`, { method: "POST", body: { body: note.value.trim() } });
    await api(`/api/v1/cases/${c.id}/verdict`, { method: "POST", body: { verdict: v } });
  });
  return el("div", { className: "case-box" },
    el("div", {},
      el("div", { className: "case-meta" },
        el("span", { className: `badge status ${c.status}`, id: "case-status" }, c.status.replace("_", " ")),
        c.verdict ? el("span", { className: `badge verdict-${c.verdict}`, id: "case-verdict" }, c.verdict) : null,
        el("span", { className: "muted", id: "case-assignee" }, c.assignee ? `assigned to ${c.assignee}` : "unassigned"),
        el("button", { type: "button", id: "assign-me", disabled: closed || (state.me && c.assignee === state.me.name),
          onclick: act(() => api(`/api/v1/cases/${c.id}/assign`, { method: "POST", body: { assignee: state.me.name } })) },
        "Assign to me")),
      el("form", { className: "verdict-form" }, note,
        el("div", { className: "actions" },
          el("button", { type: "button", className: "fraud", id: "verdict-fraud", disabled: closed, onclick: verdict("FRAUD") }, "Fraud"),
          el("button", { type: "button", className: "legit", id: "verdict-legit", disabled: closed, onclick: verdict("LEGITIMATE") }, "Legitimate"),
          el("button", { type: "button", id: "add-note", onclick: act(async () => {
            if (!note.value.trim()) throw new ApiError(422, "validation_failed", "write a note first");
            await api(`/api/v1/cases/${c.id}/notes`, { method: "POST", body: { body: note.value.trim() } });
          }) }, "Add note")),
),
      c.notes.length ? el("div", {}, el("h3", {}, "Notes"), el("ol", { className: "audit" },
        c.notes.map((n) => el("li", {}, el("time", {}, fmtTime(n.created_at)), el("b", {}, n.author), ` ${n.body}`)))) : null),
    el("div", {}, el("h3", { style: "margin-top:0" }, "Audit trail"),
      audit.length ? el("ol", { className: "audit", id: "audit" }, audit.map((e) => el("li", {},
        el("time", {}, fmtTime(e.at).slice(5, 19)), el("b", {}, e.actor), ` ${e.field}: `,
        el("span", { className: "muted" }, e.old_value ?? "∅"), " → ", e.new_value ?? "∅")))
        : el("p", { className: "muted", id: "audit" }, "No changes yet.")));
}

function renderDetail(tx, graph, audit) {
  const a = tx.alert || tx.score || {};
  const reasons = a.reasons || [];
  const counts = Object.entries(graph.counts).map(([kind, c]) =>
    `${kind}: ${c.transactions} other transaction${c.transactions === 1 ? "" : "s"}` +
    (kind === "card" ? "" : `, ${c.cards} card${c.cards === 1 ? "" : "s"}`));
  $("#detail").replaceChildren(
    el("div", { className: "case-head" },
      a.action ? actionBadge(a.action) : null,
      el("span", { className: "title mono", id: "detail-tid" }, tx.transaction_id),
      a.risk_level ? el("span", { className: "badge status", id: "risk-level" }, a.risk_level) : null,
      el("div", { className: "bigscore" }, el("b", { id: "detail-score" }, a.fraud_score !== undefined ? a.fraud_score.toFixed(3) : "–"), el("span", {}, "fraud score"))),
    el("h3", {}, "Reasons"),
    reasons.length ? el("div", { className: "chips", id: "reasons" }, reasons.map((r) => {
      const { text, kind } = readableReason(r);
      return el("span", { className: `chip ${kind}`, title: r, dataset: { code: r } }, text);
    })) : el("p", { className: "muted", id: "reasons" }, "No reason codes."),
    el("h3", {}, "Transaction"), fieldList(tx),
    tx.payment ? null : el("p", { className: "hint" },
      "Merchant, device and IP are stored for payments received by the HTTP API; this one came from the stream."),
    el("h3", {}, "Case"), caseSection(tx, audit),
    el("h3", {}, "Graph neighbourhood"),
    el("div", { className: "graph-wrap", id: "graph" }, drawGraph(graph),
      el("div", { className: "legend" },
        [["BLOCK", "#c62828"], ["REVIEW", "#e0a800"], ["ALLOW", "#3f9b62"], ["card", "#2d5bd7"],
          ["device", "#7b3fc4"], ["ip", "#128a8a"], ["merchant", "#9a5b13"]].map(([k, c]) =>
          el("span", {}, el("i", { style: `background:${c}` }), k)))),
    el("p", { className: "counts", id: "graph-counts" }, counts.length ? `Sharing with this transaction — ${counts.join(" · ")}` : "Nothing else in the store shares its card, device, IP or merchant."));
}

// ---------------------------------------------------------------- wiring
function init() {
  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORE, key);
    signIn();
  });
  $("#key-dialog").addEventListener("cancel", (ev) => { if (!state.me) ev.preventDefault(); });
  $("#change-key").addEventListener("click", () => askForKey(null));
  $("#error-close").addEventListener("click", clearError);
  $("#filters").addEventListener("change", refreshQueue);
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(KEY_STORE)) signIn(); else askForKey(null);
}

init();
