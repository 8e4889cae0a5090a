// The regulator's dashboard: every figure comes from the regulator's API (aggregated and paged
// server-side); the key stays in this browser tab (sessionStorage).

import { $, api as call, day, el, keyForm, pct, yuan } from "./common.js";

const TYPES = {
  bank: ["Banks", "银行"],
  trust: ["Trust companies", "信托公司"],
  consumer_finance: ["Consumer finance", "消费金融公司"],
  small_loan: ["Small-loan companies", "小额贷款公司"],
  other: ["Other", "其他"],
};
const ROLES = { platform: ["platform", "平台"], credit_enhancer: ["guarantor", "增信方"] };
const SVG = "http://www.w3.org/2000/svg";
let key = "";
let names = {};
let cursor = null;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const who = (id) => (id === null || id === undefined ? "–" : `${names[id] ?? "?"} (#${id})`);
const typeName = (t) => (TYPES[t] ? `${TYPES[t][0]} · ${TYPES[t][1]}` : t);

const api = (path) => call(path, key);

function rows(tableId, list, cells) {
  $(tableId).querySelector("tbody").replaceChildren(
    ...list.map((item) => el("tr", {}, ...cells(item).map((c) => el("td", {}, c)))),
  );
}

// A histogram on the APR axis (0 to 40 %), one bar per distribution bucket, with a dashed line at
// each cap that binds the type: what the eye needs to see loans beyond the line.
function histogram(group, caps) {
  const width = 420, height = 190, left = 36, bottom = 28, top = 14, axisMax = 4000;
  const x = (bps) => left + (Math.min(bps, axisMax) / axisMax) * (width - left - 8);
  const most = Math.max(1, ...group.distribution.map((b) => b.count));
  const y = (n) => height - bottom - (n / most) * (height - bottom - top);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "histogram", "data-type": group.group });
  chart.append(svg("line", { x1: left, x2: width - 8, y1: height - bottom, y2: height - bottom, class: "axis" }));
  for (const tick of [0, 1200, 2400, 3600]) {
    chart.append(svg("text", { x: x(tick), y: height - 10, "text-anchor": "middle", class: "tick" }, `${tick / 100}%`));
  }
  for (const bucket of group.distribution) {
    const from = x(bucket.min_bps), to = x(bucket.max_bps ?? axisMax);
    const over = bucket.min_bps > caps.cap;
    const bar = svg("rect", {
      x: from + 1, width: Math.max(1, to - from - 2), y: y(bucket.count),
      height: height - bottom - y(bucket.count), class: over ? "bar over" : "bar",
      "data-count": bucket.count,
    });
    bar.append(svg("title", {}, `${pct(bucket.min_bps)}–${bucket.max_bps === null ? "" : pct(bucket.max_bps)}: ${bucket.count}`));
    chart.append(bar);
    if (bucket.count) chart.append(svg("text", { x: (from + to) / 2, y: y(bucket.count) - 3, "text-anchor": "middle", class: "count" }, bucket.count));
  }
  for (const [label, bps, cls] of [[`cap ${pct(caps.cap)}`, caps.cap, "cap"], [`4×LPR ${pct(caps.lpr)}`, caps.lpr, "lpr"]]) {
    if (bps === undefined) continue;
    chart.append(svg("line", { x1: x(bps), x2: x(bps), y1: top - 4, y2: height - bottom, class: `capline ${cls}`, "data-cap-bps": bps }));
    chart.append(svg("text", { x: x(bps) + 3, y: top + (cls === "lpr" ? 12 : 2), class: `caplabel ${cls}` }, label));
  }
  return chart;
}

async function loadStats() {
  const period = $("period").value;
  const stats = await api(`/v1/regulator/stats?group_by=institution_type&period=${period}`);
  const caps = stats.basis.caps_bps;
  const latest = stats.totals.length ? stats.totals[stats.totals.length - 1].period : null;
  $("apr-basis").textContent = latest
    ? `${stats.basis.loans}; ${period} ${latest}; ${stats.basis.time}. 以发放日计，北京时间。`
    : "No anchored loans yet. 暂无已上链借款。";
  const charts = stats.groups.filter((g) => g.period === latest).map((g) => {
    const figure = el("figure", { class: "chart" });
    figure.append(el("figcaption", {}, `${typeName(g.group)} — ${g.count} loans · 笔, ${pct(g.apr_bps.weighted)} weighted · 加权`));
    figure.append(histogram(g, { cap: caps[`cap_${g.group}`], lpr: caps.four_times_lpr }));
    return figure;
  });
  $("apr-charts").replaceChildren(...charts);
  const above = stats.groups.filter((g) => (g.above_cap[`cap_${g.group}`] || {}).count > 0);
  rows("above-cap", above, (g) => {
    const a = g.above_cap[`cap_${g.group}`];
    return [typeName(g.group), g.period, pct(a.cap_bps), a.count, pct(a.share_bps)];
  });
  if (!above.length) $("above-cap").querySelector("tbody").append(el("tr", {}, el("td", { colspan: 5 }, "none · 无")));
  const cf = stats.consumer_finance_rule;
  $("cf-basis").textContent = `${cf.basis}. Threshold ${pct(cf.threshold_bps)} (${cf.average}) from ${cf.from}. 阈值 ${pct(cf.threshold_bps)}。`;
  const quarters = [...new Set(cf.by_funder.map((r) => r.quarter))].sort();
  const funders = [...new Set(cf.by_funder.map((r) => r.funder_id))];
  $("cf").querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "Company · 公司"), ...quarters.map((q) => el("th", {}, q))));
  $("cf").querySelector("tbody").replaceChildren(...funders.map((f) => el("tr", {}, el("td", {}, who(f)), ...quarters.map((q) => {
    const cell = cf.by_funder.find((r) => r.funder_id === f && r.quarter === q);
    if (!cell) return el("td", {}, "–");
    const value = cf.average === "weighted" ? cell.weighted_apr_bps : cell.simple_apr_bps;
    return el("td", { class: cell.within_limit ? "within" : "breach" }, `${pct(value)} (${cell.count})`);
  }))));
}

async function loadViolations() {
  const v = await api("/v1/regulator/violations");
  const legacy = v.legacy_awaiting_clearance;
  $("legacy-summary").textContent = `${legacy.count} loans · 笔, ${yuan(legacy.principal)} yuan · 元${legacy.truncated ? " (first page · 仅显示部分)" : ""}`;
  rows("legacy", legacy.records, (r) => [el("code", {}, r.record_id.slice(0, 12) + "…"), who(r.funder_id), yuan(r.principal), pct(r.apr_bps)]);
  $("violations-summary").textContent = `${v.proven_count} proven · 已证实; ` + Object.entries(v.proven_by_rule).map(([rule, n]) => `${rule} ${n}`).join(", ");
  rows("violations", v.proven, (p) => [el("code", {}, p.record_id.slice(0, 12) + "…"), `${p.rule} — ${p.description ?? ""}`, who(p.gateway_id), p.block_number]);
}

async function loadWhitelists() {
  const lists = await api("/v1/whitelists");
  rows("whitelists", lists, (w) => [
    who(w.funder_id), who(w.partner_id), (ROLES[w.partner_role] || [w.partner_role, ""]).join(" · "),
    w.periods.map((p) => `${day(p.valid_from)} → ${p.valid_until === null ? "now · 至今" : day(p.valid_until)}`).join("; "),
  ]);
}

function filters() {
  const q = new URLSearchParams();
  const set = (name, id) => { const v = $(id).value.trim(); if (v) q.set(name, v); };
  set("funder_id", "f-funder"); set("platform_id", "f-platform"); set("institution_type", "f-type");
  set("status", "f-status"); set("apr_min_bps", "f-apr-min"); set("apr_max_bps", "f-apr-max");
  return q;
}

async function search(next = false) {
  const q = filters();
  q.set("limit", "50");
  if (next && cursor) q.set("cursor", cursor);
  const page = await api(`/v1/regulator/loans?${q}`);
  cursor = page.next_cursor;
  const body = $("loans").querySelector("tbody");
  const made = page.items.map((l) => el("tr", { "data-record": l.record_id },
    ...[el("code", {}, l.record_id.slice(0, 12) + "…"), l.status, who(l.funder_id), who(l.platform_id), typeName(l.institution_type), yuan(l.principal), pct(l.apr_bps), day(l.issued_at)].map((c) => el("td", {}, c))));
  if (next) body.append(...made); else body.replaceChildren(...made);
  $("more").hidden = !cursor;
}

async function downloadCsv() {
  const q = filters();
  q.set("format", "csv");
  const response = await fetch(`/v1/regulator/loans?${q}`, { headers: { Authorization: `Bearer ${key}` } });
  if (!response.ok) throw new Error(`CSV: ${response.status}`);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "loans.csv" });
  document.body.append(link);
  link.click();
  link.remove();
}

async function open(given) {
  key = given;
  const people = await api("/v1/participants");
  names = Object.fromEntries(people.map((p) => [p.id, p.name]));
  const options = (role) => people.filter((p) => p.role === role).map((p) => el("option", { value: p.id }, `${p.name} (#${p.id})`));
  $("f-funder").replaceChildren(el("option", { value: "" }, "any · 全部"), ...options("funder"));
  $("f-platform").replaceChildren(el("option", { value: "" }, "any · 全部"), ...options("platform"));
  $("f-type").replaceChildren(el("option", { value: "" }, "any · 全部"), ...Object.keys(TYPES).map((t) => el("option", { value: t }, typeName(t))));
  await Promise.all([loadStats(), loadViolations(), loadWhitelists(), search()]);
  $("board").hidden = false;
}

const fail = keyForm("regulatorKey", open);
$("period").addEventListener("change", () => key && loadStats().catch(fail));
$("search").addEventListener("submit", (event) => { event.preventDefault(); search().catch(fail); });
$("more").addEventListener("click", () => search(true).catch(fail));
$("csv").addEventListener("click", () => downloadCsv().catch(fail));
