// The Floodgate dashboard: polls /dashboard/data every second and draws
// it. Every value from the server is set as text, never as markup.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));
const RANGES = { 300: "5 minutes", 900: "15 minutes", 3600: "hour" };
let range = 900; // seconds of the charts, as the range buttons chose

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
}

function last(series) {
  // The last whole second (the current one is still filling).
  return series.length > 1 ? series[series.length - 2] : 0;
}

// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
const stamp = (sec) => new Date(sec * 1000).toISOString().replace("T", " ").slice(0, 19);

// A share (0 to 1, in thousandths) as a percentage to a tenth.
const percent = (share) => (share === null || share === undefined ? "–" : `${Math.round(share * 1000) / 10}%`);

// An identity of a top list: who, the rule that limited it (or, near
// the limit, of its highest share and that share), how many requests.
function identity(tr, e, near) {
  cell(tr, e.kind === "api_key" ? `key ${e.identity}` : `${e.kind} ${e.identity}`, "identity");
  cell(tr, e.client || "–", "client");
  cell(tr, e.tier || "–", "tier");
  cell(tr, e.rule || "–", "rule");
  if (near) cell(tr, percent(e.share), "share");
  cell(tr, fmt(e.count), "count");
}

// A rule's name and totals: allowed, limited, shadow-limited.
function ruleCells(tr, r) {
  cell(tr, r.rule);
  cell(tr, fmt(r.totals.allowed), "allowed");
  cell(tr, fmt(r.totals.limited), "limited");
  cell(tr, fmt(r.totals.shadow_limited), "shadow");
}

function renderTotals(d) {
  const a = d.analytics;
  $("replica").textContent = `replica ${d.replica}`;
  $("total-allowed").textContent = fmt(a.totals.allowed);
  $("total-limited").textContent = fmt(a.totals.limited);
  $("total-shadow").textContent = fmt(a.totals.shadow_limited);
  $("total-near").textContent = fmt(a.totals.near_limit);
  $("near-share").textContent = `${Math.round(d.near_limit_share * 100)}%`;
  const sum = (k) => a.rules.reduce((t, r) => t + last(r[k]), 0);
  $("rate-allowed").textContent = fmt(sum("allowed"));
  $("rate-limited").textContent = fmt(sum("limited"));
  $("rate-shadow").textContent = fmt(sum("shadow_limited"));
  $("range-label").textContent = RANGES[a.seconds] || `${fmt(a.seconds)} seconds`;
  renderCharts(a);
  fill("rules", a.rules, (tr, r) => {
    tr.dataset.rule = r.rule;
    ruleCells(tr, r);
    cell(tr, fmt(r.totals.near_limit));
  });
  fill("top-limited", a.top_limited, (tr, e) => identity(tr, e, false));
  fill("top-near", a.top_near_limit, (tr, e) => identity(tr, e, true));
}

function renderStore(s, us) {
  const rows = [["Store", s.kind]];
  if (s.kind === "redis") {
    rows.push(["Redis", s.redis_up ? "up" : "down"], ["Breaker", s.breaker],
      ["Store errors", fmt(s.store_errors)], ["Decided by the fallback", fmt(s.fallback_decisions.total)],
      ["Redis latency p50 (last minute)", us(s.store_latency.p50_us)], ["Redis latency p99 (last minute)", s.store_latency.calls && s.store_latency.p99_us === null ? "over 1 s" : us(s.store_latency.p99_us)],
      ["Redis calls (since start)", fmt(s.redis_calls)]);
    const l = s.leased;
    if (l && l.units_taken + l.decided_on_store > 0) {
      const all = l.decided_locally + l.decided_on_store;
      rows.push(["Leased decisions made here", all ? `${(100 * l.decided_locally / all).toFixed(1)}%` : "–"],
        ["Leased units held", fmt(l.held_units)], ["Leased units returned / wasted", `${fmt(l.units_returned)} / ${fmt(l.units_wasted)}`]);
    }
    const c = s.outage_charge_back;
    if (c && c.charged_units + c.lost_units + c.owing_keys > 0) {
      rows.push(["Outage units charged back / lost", `${fmt(c.charged_units)} / ${fmt(c.lost_units)}`]);
    }
  }
  rows.push(["Decision latency p50 (last minute)", us(s.latency.p50_us)], ["Decision latency p99 (last minute)", us(s.latency.p99_us)]);
  fill("store", rows, (tr, [k, v]) => {
    cell(tr, k);
    cell(tr, v, v === "up" ? "up" : v === "down" || v === "open" ? "down" : "");
  });
}

// The live policy: each rule's key, limits and tier limits; the tiers;
// the change history (as last read, with the error, when it cannot be
// read now).
function renderPolicy(p) {
  $("policy-version").textContent = `(version ${p.version})`;
  const doc = p.document || {};
  fill("policy-rules", doc.rules || [], (tr, r) => {
    tr.dataset.rule = r.name;
    cell(tr, r.name);
    cell(tr, typeof r.key === "string" ? r.key : JSON.stringify(r.key || "ip"));
    linesCell(tr, (r.limits || []).map(describeLimit), "limits");
    linesCell(tr, tierLimits(r), "tier-limits");
    cell(tr, r.shadow ? "yes" : "no");
  });
  const tiers = doc.tiers || [];
  $("policy-tiers").textContent = `Tiers: ${tiers.length ? tiers.join(", ") : "none"} · clients: ${p.clients}`;
  const read = p.history_read ? `shown as read at ${stamp(p.history_read)}` : "never read yet";
  $("history-error").textContent = p.history_error ? `The change history cannot be read now (${p.history_error}); ${read}.` : "";
  fill("history", p.history, (tr, h) => {
    cell(tr, String(h.version));
    cell(tr, stamp(h.time));
    cell(tr, h.actor);
    cell(tr, h.summary);
  });
}

function render(d) {
  const us = (v) => (v === null || v === undefined ? "–" : `${fmt(v)} µs`);
  renderTotals(d);
  renderStore(d.store, us);
  renderPolicy(d.policy);
  renderFleet(d.fleet, us);
  const st = $("status");
  st.textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  st.className = "status ok";
  st.dataset.updates = String(Number(st.dataset.updates || 0) + 1);
}

// On Redis: every replica's last report, and the alive ones' sums.
function renderFleet(f, us) {
  $("fleet-section").hidden = !f;
  if (!f) return;
  $("fleet-error").textContent = f.error ? `The fleet cannot be read: ${f.error}` : "";
  $("fleet-summary").textContent = `(${f.alive} alive, ${f.gone} gone; gone after ${fmt(f.replica_timeout_ms / 1000)} s of silence${f.truncated ? "; more than 256 replicas: the longest silent are dropped" : ""})`;
  // In several regions: each region's replicas under a row naming it.
  const regions = f.regions || [];
  const rows = [];
  let at = undefined;
  for (const r of f.replicas) {
    if (regions.length && r.region !== at) {
      at = r.region;
      const g = regions.find((x) => x.region === at);
      rows.push({ group: at === null || at === undefined ? "no region" : at, alive: g ? g.alive : 0, gone: g ? g.gone : 0 });
    }
    rows.push(r);
  }
  fill("fleet", rows, (tr, r) => {
    if (r.group !== undefined) {
      tr.className = "region";
      tr.dataset.region = r.group;
      const th = document.createElement("th");
      th.colSpan = 10;
      th.textContent = `Region ${r.group}: ${fmt(r.alive)} alive, ${fmt(r.gone)} gone`;
      tr.appendChild(th);
      return;
    }
    if (r.region) tr.dataset.region = r.region;
    const rep = r.report || {};
    const t = rep.totals || {}, m = rep.last_minute || {}, st = rep.store || {};
    tr.dataset.replica = r.replica;
    cell(tr, r.this ? `${r.replica} (this one)` : r.replica, "replica");
    const state = [r.alive ? "alive" : "gone"];
    if (r.name_conflict) state.push("name shared by several replicas");
    if (r.report_error) state.push(r.report_error);
    cell(tr, state.join(" · "), r.alive && !r.name_conflict ? "up" : "down");
    cell(tr, `${fmt(Math.round(r.age_ms / 1000))} s ago`);
    cell(tr, rep.policy_version === undefined ? "–" : `version ${rep.policy_version}`);
    cell(tr, fmt(t.allowed), "allowed");
    cell(tr, fmt(t.limited), "limited");
    cell(tr, fmt(m.allowed));
    cell(tr, fmt(m.limited));
    cell(tr, us(rep.latency ? rep.latency.p99_us : null));
    cell(tr, st.kind === "redis" ? `Redis ${st.redis_up ? "up" : "down"}, breaker ${st.breaker}, ${fmt(st.fallback_decisions ? st.fallback_decisions.total : 0)} by the fallback` : (st.kind || "–"));
  });
  fill("fleet-rules", f.rules, (tr, r) => {
    ruleCells(tr, r);
    cell(tr, fmt(r.last_minute.limited));
  });
  fill("fleet-top-limited", f.top_limited, (tr, e) => identity(tr, e, false));
  fill("fleet-top-near", f.top_near_limit, (tr, e) => identity(tr, e, true));
}

// Fetches the data once and draws it (unless the range changed meanwhile).
async function load() {
  const want = range;
  const r = await fetch(`/dashboard/data?seconds=${want}`, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) {
    window.location.assign("/dashboard");
    return false;
  }
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const d = await r.json();
  if (want === range) render(d);
  return true;
}

function failed(e) {
  const st = $("status");
  st.textContent = `cannot reach the server (${e.message}); retrying`;
  st.className = "status error";
}

async function poll() {
  try {
    if (!(await load())) return;
  } catch (e) {
    failed(e);
  }
  setTimeout(poll, 1000);
}

// The range buttons: 5 minutes, 15 minutes, an hour.
function setRange(seconds) {
  range = seconds;
  for (const b of document.querySelectorAll("#range button")) {
    const on = Number(b.dataset.seconds) === seconds;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
  load().catch(failed);
}

for (const b of document.querySelectorAll("#range button")) {
  b.addEventListener("click", () => setRange(Number(b.dataset.seconds)));
}
poll();
