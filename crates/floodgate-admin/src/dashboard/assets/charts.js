// The per-rule charts: one SVG each, with a y axis (requests a second),
// time labels (UTC) on the x axis, and, under the pointer, that second's
// counts. A chart's box is kept across updates, so the pointer's place
// survives the page's refresh every second. Loaded before app.js, which
// calls renderCharts; uses app.js's `$` and `fmt` when it runs.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CH = { w: 900, h: 170, l: 56, r: 28, t: 10, b: 24 };
const LINES = [["allowed", "allowed"], ["limited", "limited"], ["shadow_limited", "shadow"]];
const boxes = new Map(); // rule → its chart box
let pointer = null; // { rule, frac } while the pointer is over a chart

function svg(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

// A round top for the y axis at or above `v`: 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Unix seconds as UTC time, HH:MM:SS.
function clockTime(sec) {
  return new Date(sec * 1000).toISOString().slice(11, 19);
}

// Seconds between time labels: at most 6 labels over the range.
function tickStep(seconds) {
  for (const s of [10, 30, 60, 120, 180, 300, 600, 900, 1800]) if (seconds / s <= 6) return s;
  return 3600;
}

const xOf = (i, n) => CH.l + (i / Math.max(1, n - 1)) * (CH.w - CH.l - CH.r);
const yOf = (v, top) => CH.h - CH.b - (v / top) * (CH.h - CH.b - CH.t);

// Grid lines and labels: 0, half and the top on the y axis; whole
// minutes (or tens of seconds) on the x axis.
function axes(s, top, start, n) {
  for (const v of [0, top / 2, top]) {
    const y = yOf(v, top);
    svg("line", { x1: CH.l, x2: CH.w - CH.r, y1: y, y2: y, class: "grid" }, s);
    svg("text", { x: CH.l - 6, y: y + 4, class: "y-label" }, s).textContent = fmt(v);
  }
  const step = tickStep(n);
  const end = start + n - 1;
  for (let sec = Math.ceil(start / step) * step; sec <= end; sec += step) {
    const x = xOf(sec - start, n);
    svg("line", { x1: x, x2: x, y1: CH.t, y2: CH.h - CH.b, class: "grid" }, s);
    const label = step < 60 ? clockTime(sec) : clockTime(sec).slice(0, 5);
    svg("text", { x, y: CH.h - 6, class: "x-label" }, s).textContent = label;
  }
}

// The counts of the second under the pointer, beside a cursor line.
function showTip(box) {
  const tip = box.querySelector(".tip");
  const cursor = box.querySelector(".cursor");
  const d = box.chartData;
  if (!tip || !d || !pointer || pointer.rule !== box.dataset.rule || pointer.frac < -0.02 || pointer.frac > 1.02) {
    if (tip) tip.classList.add("off");
    if (cursor) cursor.classList.add("off");
    return;
  }
  const i = Math.min(d.n - 1, Math.max(0, Math.round(pointer.frac * (d.n - 1))));
  const r = d.rule;
  tip.textContent = `${clockTime(d.start + i)} UTC · allowed ${fmt(r.allowed[i])} · limited ${fmt(r.limited[i])} · shadow-limited ${fmt(r.shadow_limited[i])} · near limit ${fmt(r.near_limit[i])}`;
  tip.classList.remove("off");
  const x = xOf(i, d.n);
  cursor.setAttribute("x1", x);
  cursor.setAttribute("x2", x);
  cursor.classList.remove("off");
  // Beside the cursor, inside the box (set through the CSSOM).
  const px = (x / CH.w) * box.querySelector("svg").getBoundingClientRect().width;
  tip.style.left = `${Math.max(0, Math.min(px + 14, box.clientWidth - tip.offsetWidth - 8))}px`;
}

function chartBox(rule) {
  let box = boxes.get(rule);
  if (box) return box;
  box = document.createElement("div");
  box.className = "chart";
  box.dataset.rule = rule;
  box.addEventListener("mousemove", (e) => {
    const s = box.querySelector("svg");
    if (!s) return;
    const r = s.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * CH.w;
    pointer = { rule, frac: (x - CH.l) / (CH.w - CH.l - CH.r) };
    showTip(box);
  });
  box.addEventListener("mouseleave", () => {
    pointer = null;
    showTip(box);
  });
  boxes.set(rule, box);
  return box;
}

function drawChart(box, r, start, n) {
  const peak = Math.max(0, ...r.allowed, ...r.limited, ...r.shadow_limited);
  const top = niceMax(peak);
  const s = svg("svg", { viewBox: `0 0 ${CH.w} ${CH.h}`, role: "img" });
  axes(s, top, start, n);
  for (const [key, cls] of LINES) {
    const points = r[key].map((v, i) => `${xOf(i, n).toFixed(1)},${yOf(v, top).toFixed(1)}`).join(" ");
    svg("polyline", { points, class: `line ${cls}` }, s);
  }
  svg("line", { x1: 0, x2: 0, y1: CH.t, y2: CH.h - CH.b, class: "cursor off" }, s);
  const title = document.createElement("div");
  title.className = "chart-title";
  title.textContent = `${r.rule} — peak ${fmt(peak)}/s, ${clockTime(start)} to ${clockTime(start + n - 1)} UTC`;
  const tip = document.createElement("div");
  tip.className = "tip off";
  box.replaceChildren(title, s, tip);
  box.chartData = { rule: r, start, n };
  showTip(box);
}

// Every rule's chart over the snapshot's seconds (the last one is `now`).
function renderCharts(a) {
  const n = a.seconds;
  const start = a.now - n + 1;
  const keep = new Set(a.rules.map((r) => r.rule));
  for (const [rule, box] of boxes) {
    if (!keep.has(rule)) {
      box.remove();
      boxes.delete(rule);
    }
  }
  const host = $("charts");
  for (const r of a.rules) {
    const box = chartBox(r.rule);
    drawChart(box, r, start, n);
    host.appendChild(box);
  }
}
