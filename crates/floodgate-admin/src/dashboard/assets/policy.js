// The live policy as the dashboard shows it: every limit with its
// algorithm's parameters, and each rule's tier limits. Loaded before
// app.js, which calls describeLimit and tierLimits.
"use strict";

const WINDOWS = {
  fixed_window: "fixed window",
  sliding_window_log: "sliding window log",
  sliding_window_counter: "sliding window counter",
};

// The parameters of one limit, as the policy document has them (the
// defaults the server applies when a field is absent: leaky bucket
// `policing`, GCRA burst 1, concurrency lease 1m).
function limitParams(l) {
  const a = l.algorithm;
  if (a === "token_bucket") return `token bucket: capacity ${l.capacity}, refill ${l.refill}`;
  if (a === "leaky_bucket") return `leaky bucket (${l.mode || "policing"}): capacity ${l.capacity}, leak ${l.rate}`;
  if (WINDOWS[a]) return `${WINDOWS[a]}: ${l.limit} per ${l.window}`;
  if (a === "gcra") return `GCRA: rate ${l.rate}, burst ${l.burst === undefined ? 1 : l.burst}`;
  if (a === "concurrency") return `concurrency: ${l.limit} at once, lease ${l.lease || "1m"}`;
  const rest = Object.entries(l).filter(([k]) => k !== "algorithm" && k !== "name");
  return `${a}: ${rest.map(([k, v]) => `${k} ${v}`).join(", ")}`;
}

// One limit in a line: its name, its algorithm's parameters, its soft share.
function describeLimit(l) {
  const soft = l.soft === undefined ? "" : `, soft ${l.soft}`;
  return `${l.name ? l.name + ": " : ""}${limitParams(l)}${soft}`;
}

// A rule's tier limits: one line per tier, `tier: limit; limit`.
function tierLimits(rule) {
  return Object.entries(rule.tiers || {}).map(([tier, limits]) => `${tier}: ${limits.map(describeLimit).join("; ")}`);
}

// A table cell of lines, one element each (set as text).
function linesCell(tr, lines, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  for (const line of lines) {
    const div = document.createElement("div");
    div.textContent = line;
    td.appendChild(div);
  }
  if (!lines.length) td.textContent = "–";
  tr.appendChild(td);
  return td;
}
