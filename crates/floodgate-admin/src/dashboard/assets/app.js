// The Floodgate dashboard: polls /dashboard/data every second and draws
// it. Every value from the server is set as text, never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));

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

function chart(rule) {
  const w = 900, h = 100;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const all = rule.allowed.concat(rule.limited, rule.shadow_limited);
  const max = Math.max(1, ...all);
  for (const [key, color] of [["allowed", "var(--allowed)"], ["limited", "var(--limited)"], ["shadow_limited", "var(--shadow)"]]) {
    const s = rule[key];
    const step = w / Math.max(1, s.length - 1);
    const points = s.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * (h - 4)).toFixed(1)}`).join(" ");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points);
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", color);
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(line);
  }
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.rule = rule.rule;
  const title = document.createElement("div");
  title.textContent = `${rule.rule} — peak ${fmt(max)}/s`;
  box.append(title, svg);
  return box;
}

function identity(tr, e, count) {
  cell(tr, e.kind === "api_key" ? `key ${e.identity}` : `${e.kind} ${e.identity}`, "identity");
  cell(tr, e.client || "–", "client");
  cell(tr, e.tier || "–", "tier");
  cell(tr, fmt(count), "count");
}

// A rule's name and totals: allowed, limited, shadow-limited.
function ruleCells(tr, r) {
  cell(tr, r.rule);
  cell(tr, fmt(r.totals.allowed), "allowed");
  cell(tr, fmt(r.totals.limited), "limited");
  cell(tr, fmt(r.totals.shadow_limited), "shadow");
}

function render(d) {
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
  $("charts").replaceChildren(...a.rules.map(chart));
  fill("rules", a.rules, (tr, r) => {
    tr.dataset.rule = r.rule;
    ruleCells(tr, r);
    cell(tr, fmt(r.totals.near_limit));
  });
  fill("top-limited", a.top_limited, (tr, e) => identity(tr, e, e.count));
  fill("top-near", a.top_near_limit, (tr, e) => identity(tr, e, e.count));
  const s = d.store;
  const us = (v) => (v === null || v === undefined ? "–" : `${fmt(v)} µs`);
  const rows = [["Store", s.kind]];
  if (s.kind === "redis") {
    rows.push(["Redis", s.redis_up ? "up" : "down"], ["Breaker", s.breaker],
      ["Store errors", fmt(s.store_errors)], ["Decided by the fallback", fmt(s.fallback_decisions.total)],
      ["Redis latency p50 (last minute)", us(s.store_latency.p50_us)], ["Redis latency p99 (last minute)", s.store_latency.calls && s.store_latency.p99_us === null ? "over 1 s" : us(s.store_latency.p99_us)]);
  }
  rows.push(["Decision latency p50 (last minute)", us(s.latency.p50_us)], ["Decision latency p99 (last minute)", us(s.latency.p99_us)]);
  fill("store", rows, (tr, [k, v]) => {
    cell(tr, k);
    cell(tr, v, v === "up" ? "up" : v === "down" || v === "open" ? "down" : "");
  });
  const p = d.policy;
  $("policy-version").textContent = `(version ${p.version})`;
  const doc = p.document || {};
  fill("policy-rules", doc.rules || [], (tr, r) => {
    cell(tr, r.name);
    cell(tr, typeof r.key === "string" ? r.key : JSON.stringify(r.key || "ip"));
    cell(tr, (r.limits || []).map((l) => `${l.name ? l.name + ": " : ""}${l.algorithm} ${l.rate || ""}${l.limit !== undefined ? l.limit + "/" + l.window : ""}${l.capacity !== undefined ? " cap " + l.capacity : ""}`).join("; "));
    cell(tr, r.shadow ? "yes" : "no");
  });
  const tiers = doc.tiers || [];
  $("policy-tiers").textContent = `Tiers: ${tiers.length ? tiers.join(", ") : "none"} · clients: ${p.clients.length}`;
  fill("history", p.history, (tr, h) => {
    cell(tr, String(h.version));
    cell(tr, new Date(h.time * 1000).toISOString().replace("T", " ").slice(0, 19));
    cell(tr, h.actor);
    cell(tr, h.summary);
  });
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
  fill("fleet", f.replicas, (tr, r) => {
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
  fill("fleet-top-limited", f.top_limited, (tr, e) => identity(tr, e, e.count));
  fill("fleet-top-near", f.top_near_limit, (tr, e) => identity(tr, e, e.count));
}

async function poll() {
  try {
    const r = await fetch("/dashboard/data", { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) {
      window.location.assign("/dashboard");
      return;
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    render(await r.json());
  } catch (e) {
    const st = $("status");
    st.textContent = `cannot reach the server (${e.message}); retrying`;
    st.className = "status error";
  }
  setTimeout(poll, 1000);
}

poll();
