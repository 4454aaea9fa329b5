// The meshtool dashboard: one page at a time, its JSON polled every second and redrawn in place.
"use strict";

const PAGES = {
  overview: ["Overview", renderOverview],
  proxies: ["Data plane proxies", renderProxies],
  services: ["Services", renderServices],
  policies: ["Policies", renderPolicies],
  graph: ["Service graph", renderGraph],
  splits: ["Traffic split", renderSplits],
};
const REFRESH_MS = 1000;
let current = null;
let selectedPolicy = null;
let timer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

const ms = (v) => (v === null || v === undefined ? "-" : `${v.toFixed(1)} ms`);
const pct = (v) => `${(v * 100).toFixed(1)}%`;
const ago = (t) => (t ? `${Math.max(0, Math.round(Date.now() / 1000 - t))}s ago` : "-");

function table(columns, rows, testid) {
  return el("table", { "data-testid": testid },
    el("thead", {}, el("tr", {}, columns.map(([name, cls]) => el("th", { class: cls || "" }, name)))),
    el("tbody", {}, rows));
}

function renderOverview(d) {
  const card = (label, value, id, small) => el("div", { class: "card", "data-testid": id },
    el("div", { class: "label" }, label), el("div", { class: small ? "value small" : "value" }, value));
  const s = d.byStatus;
  return el("div", { class: "cards" },
    card("Control plane", d.controlPlane, "cp", true),
    card("meshtool version", d.meshtoolVersion, "meshtool-version", true),
    card("Snapshot version", d.snapshotVersion || "none yet", "snapshot", true),
    card("Store revision", d.storeRevision, "revision"),
    card("Proxies", d.proxies, "proxies"),
    card("Synced / stale / not sent / error",
         `${s.SYNCED} / ${s.STALE} / ${s["NOT SENT"]} / ${s.ERROR}`, "by-status"),
    card("Services", d.services, "services"),
    card("Rules", d.rules, "rules"),
    card("Requests / s (mesh)", d.rps, "rps"));
}

function renderProxies(rows) {
  if (!rows.length) return el("div", { class: "empty" }, "No proxy is connected.");
  return table([["Proxy"], ["Service"], ["Version"], ["Cluster"], ["Status"], ["Sent"], ["Acked"],
                ["Last push"], ["Certificate expiry"]],
    rows.map((p) => el("tr", { "data-proxy": p.proxyId },
      el("td", {}, p.proxyId), el("td", {}, p.service), el("td", {}, p.version),
      el("td", {}, p.cluster),
      el("td", {}, el("span", { class: `status ${p.status.replace(" ", "_")}`, title: p.error || "" },
                     p.status)),
      el("td", {}, p.sent || "-"), el("td", {}, p.acked || "-"), el("td", {}, ago(p.lastPush)),
      el("td", {}, p.certificateExpiry || "-"))), "proxies-table");
}

function renderServices(rows) {
  if (!rows.length) return el("div", { class: "empty" }, "No service yet.");
  return table([["Service"], ["Version"], ["Instances", "num"], ["Requests/s", "num"],
                ["Errors", "num"], ["p50", "num"], ["p99", "num"], ["Requests (window)", "num"]],
    rows.map((s) => el("tr", { "data-service": `${s.service}:${s.version}` },
      el("td", {}, s.service), el("td", {}, s.version), el("td", { class: "num" }, s.instances),
      el("td", { class: "num" }, s.rps.toFixed(2)), el("td", { class: "num" }, pct(s.errorRate)),
      el("td", { class: "num" }, ms(s.p50)), el("td", { class: "num" }, ms(s.p99)),
      el("td", { class: "num" }, s.requests))), "services-table");
}

function renderPolicies(rows) {
  if (!rows.length) return el("div", { class: "empty" }, "No rule is in force.");
  const key = (r) => `${r.kind}/${r.namespace}/${r.name}`;
  if (!rows.some((r) => key(r) === selectedPolicy)) selectedPolicy = key(rows[0]);
  const chosen = rows.find((r) => key(r) === selectedPolicy);
  return el("div", { class: "policies" },
    el("ul", { "data-testid": "policy-list" }, rows.map((r) => el("li", {
      class: key(r) === selectedPolicy ? "selected" : "", "data-policy": key(r),
      onclick: () => { selectedPolicy = key(r); refresh(); } },
      el("div", {}, `${r.kind} ${r.namespace}/${r.name}`),
      el("div", { class: "muted" }, `${r.apiVersion} · revision ${r.revision}`)))),
    el("pre", { class: "yaml", "data-testid": "policy-yaml" }, chosen.yaml));
}

function layout(graph) {
  // Columns by distance from the nodes nobody calls; rows in order within a column.
  const incoming = new Map(graph.nodes.map((n) => [n.id, 0]));
  graph.edges.forEach((e) => incoming.set(e.destination, (incoming.get(e.destination) || 0) + 1));
  const depth = new Map();
  const roots = graph.nodes.filter((n) => !incoming.get(n.id)).map((n) => n.id);
  const queue = roots.map((id) => [id, 0]);
  while (queue.length) {
    const [id, d] = queue.shift();
    if (depth.has(id) && depth.get(id) >= d) continue;
    depth.set(id, d);
    if (d > graph.nodes.length) continue;
    graph.edges.filter((e) => e.source === id).forEach((e) => queue.push([e.destination, d + 1]));
  }
  graph.nodes.forEach((n) => { if (!depth.has(n.id)) depth.set(n.id, 0); });
  const columns = [];
  graph.nodes.forEach((n) => { (columns[depth.get(n.id)] ||= []).push(n.id); });
  const pos = new Map();
  columns.forEach((ids, c) => ids.forEach((id, r) => pos.set(id, { x: 30 + c * 340, y: 40 + r * 100 })));
  return { pos, width: 30 + columns.length * 340 - 160, height: 50 + Math.max(1, ...columns.map((c) => c.length)) * 100 };
}

function renderGraph(graph) {
  if (!graph.nodes || !graph.nodes.length) {
    return el("div", { class: "empty" }, "No traffic seen yet: the graph is built from the sidecars' metrics.");
  }
  const { pos, width, height } = layout(graph);
  const W = 150, H = 40;
  const root = svg("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, "data-testid": "graph" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#9aa4b8" }))));
  const labels = [];
  graph.edges.forEach((e) => {
    const a = pos.get(e.source), b = pos.get(e.destination);
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const mx = (x1 + x2) / 2;
    root.append(svg("path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
      "marker-end": "url(#arrow)", class: e.errorRate > 0 ? "errors" : "",
      "data-edge": `${e.source}->${e.destination}` }));
    const y = (y1 + y2) / 2;
    labels.push(svg("text", { x: mx, y: y - 18, "text-anchor": "middle", class: "edge" },
      svg("tspan", { x: mx }, `${e.rps.toFixed(2)} rps · ${pct(e.errorRate)} errors`),
      svg("tspan", { x: mx, dy: "13" }, `p50 ${ms(e.p50)} · p99 ${ms(e.p99)}`)));
  });
  graph.nodes.forEach((n) => {
    const p = pos.get(n.id);
    root.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6,
      class: n.inMesh ? "node" : "node outside", "data-node": n.id }));
    root.append(svg("text", { x: p.x + W / 2, y: p.y + H / 2 + 4, "text-anchor": "middle" }, n.id));
  });
  labels.forEach((t) => root.append(t));  // above the nodes, so none is hidden
  return el("div", {}, root,
    el("p", { class: "muted" }, `Over the last ${graph.window}s. Dashed: outside the mesh.`));
}

function renderSplits(rows) {
  if (!rows.length) return el("div", { class: "empty" }, "No weighted route is in force.");
  const bar = (targets, field, testid) => el("div", { class: "bar", "data-testid": testid },
    targets.map((t, i) => {
      const v = t[field] || 0;
      const s = el("span", { class: `c${i % 5}`, "data-version": t.version }, v ? `${t.version} ${Math.round(v)}%` : "");
      s.style.width = `${v}%`;
      return s;
    }));
  return el("div", {}, rows.map((r) => el("div", { class: "split", "data-rule": r.rule },
    el("h2", {}, `${r.destination}`, el("span", { class: "muted" }, `  rule ${r.rule}`)),
    el("div", { class: "muted" }, "Weights in force"),
    bar(r.targets, "share", "split-weights"),
    el("div", { class: "muted" }, `Observed (${r.observedRequests} requests in the window)`),
    bar(r.targets, "observed", "split-observed"))));
}

async function refresh() {
  const page = current;
  try {
    const resp = await fetch(`/gui/api/${page}`, { cache: "no-store" });
    const data = await resp.json();
    if (page !== current) return;
    if (!resp.ok) throw new Error(data.error || resp.statusText);
    document.getElementById("error").hidden = true;
    document.getElementById("page").replaceChildren(PAGES[page][1](data));
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    const box = document.getElementById("error");
    box.textContent = `Cannot read the control plane: ${err.message}`;
    box.hidden = false;
  }
}

function show() {
  const page = (location.hash || "#overview").slice(1);
  current = PAGES[page] ? page : "overview";
  document.getElementById("title").textContent = PAGES[current][0];
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === current));
  document.getElementById("page").replaceChildren();
  clearInterval(timer);
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

window.addEventListener("hashchange", show);
show();
