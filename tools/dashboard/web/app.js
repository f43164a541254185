// Wharf dashboard: a hash-routed page over /api. Every element is built
// with textContent (el below): message bodies, keys, properties and names
// are untrusted and never parsed as HTML.
"use strict";

const state = { admin: false, timers: [], rates: {} };

// el builds an element: attrs sets properties (on* handlers, className,
// dataset via "data-*"), children are nodes or strings (text nodes).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-") || k === "for" || k === "type" || k === "name") e.setAttribute(k, String(v));
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const j = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

const fmtNum = (n) => (n === undefined || n === null || n === "" ? "–" : Number(n).toLocaleString("en-US"));
const fmtTime = (ms) => (!ms || ms <= 0 ? "–" : new Date(Number(ms)).toLocaleString("sv-SE"));
// uptime shortens a broker's "[ 1 days, 2 hours, 3 minutes, 4 seconds ]".
const uptime = (s) => {
  const n = String(s || "").match(/\d+/g);
  return n && n.length === 4 ? `${n[0]}d ${n[1]}h ${n[2]}m ${n[3]}s` : (s || "–");
};
const fmtRate = (r) => (r === undefined ? "…" : r.toFixed(1) + "/s");
const link = (hash, text) => el("a", { href: hash }, text);
const topicLink = (t) => link("#/topic/" + encodeURIComponent(t), t);
const groupLink = (g) => link("#/group/" + encodeURIComponent(g), g);

// rate turns a counter into a per-second rate between two refreshes.
function rate(key, value) {
  const now = Date.now(), prev = state.rates[key];
  state.rates[key] = { v: Number(value), t: now };
  if (!prev || now <= prev.t) return undefined;
  return Math.max(0, (Number(value) - prev.v) * 1000 / (now - prev.t));
}

// table builds a table: cols are [title, className?]; rows are arrays of
// cells (strings or nodes), or {attrs, cells}.
function table(id, cols, rows, empty) {
  const head = el("tr", {}, cols.map(([t, c]) => el("th", { className: c || "" }, t)));
  const body = rows.map((r) => {
    const cells = Array.isArray(r) ? r : r.cells;
    return el("tr", Array.isArray(r) ? {} : r.attrs, cells.map((c, i) => {
      const [, cls, field] = cols[i];
      return el("td", { className: cls || "", "data-field": field }, c);
    }));
  });
  if (!rows.length) body.push(el("tr", {}, el("td", { colSpan: cols.length, className: "muted" }, empty || "Nothing to show.")));
  return el("table", { id }, el("thead", {}, head), el("tbody", {}, body));
}

const stat = (k, v, id) => el("div", { className: "stat" }, el("div", { className: "v", id: id || "" }, v), el("div", { className: "k" }, k));
const errorBox = (e) => el("div", { className: "error" }, String(e.message || e));
const noticeBox = (t) => el("div", { className: "notice" }, t);

function view(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
}

// every runs fn now and then every ms while the page stays.
function every(ms, fn) {
  fn();
  state.timers.push(setInterval(fn, ms));
}

// ---- pages ----

async function clusterPage() {
  const box = el("div", {});
  view(el("h1", {}, "Cluster"), box);
  every(3000, async () => {
    try {
      const { brokers } = await api("/api/cluster");
      const rows = brokers.map((b) => {
        const rt = b.runtime || {};
        const disk = rt.commitLogDiskRatio ? (Number(rt.commitLogDiskRatio) * 100).toFixed(1) + " %" : "–";
        const role = el("span", { className: "badge " + (b.brokerId === 0 ? "master" : "slave") }, b.role);
        const dispatch = rt.dispatchState === undefined ? "–" :
          el("span", { className: "badge " + (rt.dispatchState === "ok" ? "ok" : "bad") }, rt.dispatchState);
        return { attrs: { "data-broker": b.brokerName + "/" + b.brokerId }, cells: [
          b.cluster, b.brokerName, String(b.brokerId), el("code", {}, b.addr), role, rt.brokerVersionDesc || "–",
          fmtRate(rate("put:" + b.addr, rt.msgPutTotalTodayNow || 0)), fmtRate(rate("get:" + b.addr, rt.msgGetTotalTodayNow || 0)),
          fmtNum(rt.msgPutTotalTodayNow), disk, dispatch, b.error ? el("span", { className: "badge bad" }, b.error) : uptime(rt.runtime),
        ] };
      });
      box.replaceChildren(
        el("div", { className: "stats" }, stat("Brokers", brokers.length, "stat-brokers"),
          stat("Masters", brokers.filter((b) => b.brokerId === 0).length)),
        table("brokers", [["Cluster"], ["Broker"], ["ID", "num"], ["Address"], ["Role", "", "role"], ["Version"],
          ["Put rate", "num", "put"], ["Get rate", "num", "get"], ["Puts since start", "num"], ["Disk used", "num", "disk"],
          ["Dispatch", "wrap"], ["Up"]], rows, "The name server knows no broker."));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

async function topicsPage() {
  const box = el("div", {}), msg = el("div", {});
  const showAll = el("input", { type: "checkbox", id: "show-all", onchange: () => draw() });
  let last = [];
  const tools = [el("div", { className: "toolbar" }, el("label", {}, showAll, "show retry, dead-letter and system topics"))];
  if (state.admin) {
    const name = el("input", { id: "new-topic", placeholder: "topic name", required: true });
    const queues = el("input", { id: "new-queues", type: "number", value: "4", min: 1, max: 1024 });
    const form = el("form", { className: "inline card", id: "create-topic", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await post("/api/topic/create", { topic: name.value.trim(), writeQueues: Number(queues.value), readQueues: Number(queues.value) });
        msg.replaceChildren(noticeBox("Created " + r.topic + " on " + r.brokers.join(", ")));
        name.value = "";
        refresh();
      } catch (e) { msg.replaceChildren(errorBox(e)); }
    } }, el("label", {}, "New topic", name), el("label", {}, "Queues", queues), el("button", { type: "submit" }, "Create topic"));
    tools.unshift(form);
  }
  view(el("h1", {}, "Topics"), ...tools, msg, box);
  const del = async (t) => {
    if (!confirm("Delete topic " + t + " on every broker and name server?")) return;
    try { await post("/api/topic/delete", { topic: t }); msg.replaceChildren(noticeBox("Deleted " + t)); refresh(); }
    catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  function draw() {
    const ts = last.filter((t) => showAll.checked || t.kind === "normal");
    const cols = [["Topic"], ["Kind"], ["Brokers"], ["Queues (w/r)", "num"], ["Messages", "num", "messages"],
      ["Write rate", "num", "rate"], ["Last write"], ["Consumer groups", "wrap", "groups"]];
    if (state.admin) cols.push([""]);
    box.replaceChildren(table("topics", cols, ts.map((t) => {
      const cells = [topicLink(t.topic), el("span", { className: "badge" }, t.kind), t.brokers.join(", "),
        t.writeQueues + " / " + t.readQueues, fmtNum(t.messages), fmtRate(t.rate), fmtTime(t.lastUpdateTime),
        t.groups.length ? t.groups.flatMap((g, i) => (i ? [", ", groupLink(g)] : [groupLink(g)])) : "–"];
      if (state.admin) cells.push(t.kind === "normal" ? el("button", { className: "danger", onclick: () => del(t.topic) }, "Delete") : "");
      return { attrs: { "data-topic": t.topic }, cells };
    }), "No topic."));
  }
  async function refresh() {
    try {
      const { topics } = await api("/api/topics");
      for (const t of topics) t.rate = rate("topic:" + t.topic, t.maxOffset);
      last = topics;
      draw();
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  every(10000, refresh);
}

async function topicPage(topic) {
  const box = el("div", {});
  view(el("h1", {}, "Topic ", el("code", {}, topic)), box);
  every(5000, async () => {
    try {
      const t = await api("/api/topic?topic=" + encodeURIComponent(topic));
      const total = t.queues.reduce((s, q) => s + Math.max(q.maxOffset - q.minOffset, 0), 0);
      box.replaceChildren(
        el("div", { className: "stats" }, stat("Messages", fmtNum(total), "topic-messages"), stat("Queues", t.queues.length),
          stat("Consumer groups", t.groups.length)),
        el("h2", {}, "Queues"),
        table("queues", [["Broker"], ["Queue", "num"], ["Min offset", "num"], ["Max offset", "num"], ["Messages", "num"], ["Last write"]],
          t.queues.map((q) => [q.brokerName || q.addr, String(q.queueId), fmtNum(q.minOffset), fmtNum(q.maxOffset),
            fmtNum(Math.max(q.maxOffset - q.minOffset, 0)), fmtTime(q.lastUpdateTime)])),
        el("h2", {}, "Consumer groups"),
        table("topic-groups", [["Group"], ["Lag", "num", "lag"], ["Note", "wrap"]],
          t.groups.map((g) => ({ attrs: { "data-group": g.group }, cells: [groupLink(g.group), fmtNum(g.lag), g.error || ""] })),
          "No group has consumed this topic."));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

async function groupsPage() {
  const box = el("div", {});
  const showSys = el("input", { type: "checkbox", onchange: () => draw() });
  let last = [];
  view(el("h1", {}, "Consumer groups"), el("div", { className: "toolbar" }, el("label", {}, showSys, "show system groups")), box);
  function draw() {
    const gs = last.filter((g) => showSys.checked || !g.system);
    box.replaceChildren(table("groups", [["Group"], ["Topics", "wrap"], ["Lag", "num", "lag"], ["Consume TPS", "num"], ["Clients", "num", "clients"], ["Brokers"], ["Note", "wrap"]],
      gs.map((g) => ({ attrs: { "data-group": g.group }, cells: [groupLink(g.group), g.topics.join(", ") || "–", fmtNum(g.lag),
        g.consumeTps.toFixed(1), String(g.clients), g.brokers.join(", "), g.error || ""] })), "No consumer group."));
  }
  every(5000, async () => {
    try { last = (await api("/api/groups")).groups; draw(); } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

// lagChart draws points ([t ms, lag]) as a line with a max and time
// axis, width w pixels (the viewBox is the real size, so text keeps its
// shape).
function lagChart(points, w) {
  const W = Math.max(320, Math.round(w || 800)), H = 200, L = 56, B = 22, T = 10, R = 14;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "lag-chart", role: "img", "aria-label": "lag over time" });
  const maxV = Math.max(1, ...points.map((p) => p[1]));
  const t0 = points.length ? points[0][0] : 0, t1 = points.length ? points[points.length - 1][0] : 1;
  const x = (t) => L + (W - L - R) * (t1 === t0 ? 1 : (t - t0) / (t1 - t0));
  const y = (v) => T + (H - T - B) * (1 - v / maxV);
  for (const f of [0, 0.5, 1]) {
    s.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(maxV * f), y2: y(maxV * f) }));
    s.append(svg("text", { x: L - 6, y: y(maxV * f) + 4, "text-anchor": "end" }, fmtNum(Math.round(maxV * f))));
  }
  if (points.length) {
    // One sample is drawn as a flat line across, so it shows at once.
    const pts = (points.length === 1 ? [[t0 - 1, points[0][1]], points[0]] : points);
    const xs = points.length === 1 ? [L, W - R] : null;
    const str = pts.map((p, i) => `${(xs ? xs[i] : x(p[0])).toFixed(1)},${y(p[1]).toFixed(1)}`);
    const first = xs ? L : x(t0), last = xs ? W - R : x(t1);
    s.append(svg("polygon", { class: "area", points: `${first},${y(0)} ${str.join(" ")} ${last},${y(0)}` }));
    s.append(svg("polyline", { class: "line", points: str.join(" ") }));
    const [lt, lv] = points[points.length - 1];
    s.append(svg("circle", { class: "dot", cx: last, cy: y(lv), r: 3.5 }));
    s.append(svg("text", { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString("sv-SE")));
    s.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end" }, new Date(lt).toLocaleTimeString("sv-SE")));
  }
  return s;
}

async function groupPage(group) {
  const head = el("div", {}), box = el("div", {}), chart = el("div", { className: "chart" }), msg = el("div", {}), reset = el("div", {});
  const points = [];
  let topics = [];
  view(el("h1", {}, "Consumer group ", el("code", {}, group)), head, el("h2", {}, "Total lag, live"), chart, box, reset, msg);
  if (state.admin) {
    const topicSel = el("select", { id: "reset-topic" });
    const when = el("input", { type: "datetime-local", id: "reset-time", step: 1 });
    const form = el("form", { className: "inline card", id: "reset-offset", onsubmit: async (ev) => {
      ev.preventDefault();
      const latest = !when.value;
      if (!confirm(latest ? "Move " + group + " to the end of " + topicSel.value + "?" : "Move " + group + " on " + topicSel.value + " to " + when.value + "?")) return;
      try {
        const r = await post("/api/group/reset", { group, topic: topicSel.value, latest, timestamp: latest ? 0 : new Date(when.value).getTime() });
        msg.replaceChildren(noticeBox("Reset " + r.queues.length + " queue(s)."));
      } catch (e) { msg.replaceChildren(errorBox(e)); }
    } }, el("label", {}, "Topic", topicSel), el("label", {}, "To time (empty: latest)", when), el("button", { type: "submit" }, "Reset offset"));
    reset.append(el("h2", {}, "Reset offset"), form);
    reset.fill = (ts) => {
      if (ts.join() === topics.join()) return;
      topics = ts;
      topicSel.replaceChildren(...ts.map((t) => el("option", { value: t }, t)));
    };
  }
  every(2000, async () => {
    try {
      const g = await api("/api/group?group=" + encodeURIComponent(group));
      points.push([Date.now(), g.lag]);
      if (points.length > 150) points.shift();
      chart.replaceChildren(lagChart(points, chart.clientWidth - 18));
      if (reset.fill) reset.fill([...new Set(g.queues.map((q) => q.topic))]);
      head.replaceChildren(el("div", { className: "stats" }, stat("Total lag", fmtNum(g.lag), "group-lag"), stat("Queues", g.queues.length), stat("Clients", g.clients.length, "group-clients")));
      box.replaceChildren(
        el("h2", {}, "Lag per queue"),
        table("group-queues", [["Topic"], ["Broker"], ["Queue", "num"], ["Broker offset", "num"], ["Consumer offset", "num"], ["Lag", "num", "lag"], ["Last consumed"]],
          g.queues.map((q) => ({ attrs: { "data-queue": q.topic + "/" + (q.brokerName || q.addr) + "/" + q.queueId },
            cells: [topicLink(q.topic), q.brokerName || q.addr, String(q.queueId), fmtNum(q.brokerOffset), fmtNum(q.consumerOffset), fmtNum(q.lag), fmtTime(q.lastTimestamp)] }))),
        el("h2", {}, "Connected clients", g.messageModel ? " (" + g.consumeType + ", " + g.messageModel + ")" : ""),
        table("group-clients-list", [["Client id"], ["Address"], ["Language"], ["Version", "num"], ["Broker"]],
          g.clients.map((c) => ({ attrs: { "data-client": c.clientId }, cells: [el("code", {}, c.clientId), el("code", {}, c.clientAddr), c.language, String(c.version), c.broker] })),
          "No consumer of this group is online."),
        el("h2", {}, "Subscriptions"),
        table("group-subs", [["Topic"], ["Expression", "", "expr"]],
          Object.keys(g.subscriptions || {}).sort().map((t) => ({ attrs: { "data-topic": t }, cells: [topicLink(t), el("code", {}, g.subscriptions[t])] })),
          "No online consumer reports a subscription."));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

async function producersPage(params) {
  const box = el("div", {}), conns = el("div", {});
  const group = el("input", { id: "p-group", placeholder: "producer group", value: params.get("group") || "" });
  const form = el("form", { className: "inline card", id: "producer-form", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = "#/producers?group=" + encodeURIComponent(group.value.trim());
  } }, el("label", {}, "Producer group", group), el("button", { type: "submit" }, "Show connections"));
  view(el("h1", {}, "Producers"), form, conns, el("h2", {}, "Writes per topic"), box);
  every(5000, async () => {
    try {
      const g = params.get("group") || "";
      const d = await api("/api/producers?group=" + encodeURIComponent(g));
      if (g) {
        conns.replaceChildren(el("h2", {}, "Connections of ", el("code", {}, g)),
          table("producer-conns", [["Client id"], ["Address"], ["Language"], ["Version", "num"], ["Broker"]],
            d.connections.map((c) => ({ attrs: { "data-client": c.clientId }, cells: [el("code", {}, c.clientId), el("code", {}, c.clientAddr), c.language, String(c.version), c.broker] })),
            "No producer of this group is connected."));
      } else {
        conns.replaceChildren(el("p", { className: "muted" }, "Brokers do not list producer groups: enter one to see its connections."));
      }
      box.replaceChildren(table("producers", [["Topic"], ["Messages written", "num"], ["Write rate", "num"], ["Last write"]],
        d.topics.map((t) => ({ attrs: { "data-topic": t.topic }, cells: [topicLink(t.topic), fmtNum(t.maxOffset), fmtRate(rate("prod:" + t.topic, t.maxOffset)), fmtTime(t.lastUpdateTime)] })),
        "No topic."));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

function messageTable(ms, extra) {
  const cols = [["Message id"], ["Topic"], ["Tags", "wrap"], ["Keys", "wrap", "keys"], ["Queue", "num"], ["Offset", "num"], ["Stored"], ["Size", "num"]];
  if (extra) cols.push(...extra.cols);
  return table("messages", cols, ms.map((m) => {
    const cells = [link("#/message/" + encodeURIComponent(m.broker) + "/" + m.commitLogOffset, m.uniqKey || m.msgId), m.topic, m.tags || "–", m.keys || "–",
      String(m.queueId), fmtNum(m.queueOffset), fmtTime(m.storeTimestamp), fmtNum(m.bodySize)];
    if (extra) cells.push(...extra.cells(m));
    return { attrs: { "data-msgid": m.msgId }, cells };
  }), "No message found.");
}

async function messagesPage(params) {
  const out = el("div", {});
  const topic = el("input", { id: "q-topic", placeholder: "topic", value: params.get("topic") || "" });
  const key = el("input", { id: "q-key", placeholder: "message key", value: params.get("key") || "" });
  const id = el("input", { id: "q-id", placeholder: "message id", className: "mono", size: 34, value: params.get("id") || "" });
  const local = (ms) => new Date(ms - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const begin = el("input", { id: "q-begin", type: "datetime-local", step: 1, value: local(Date.now() - 3600e3) });
  const end = el("input", { id: "q-end", type: "datetime-local", step: 1, value: local(Date.now() + 60e3) });
  let mode = params.get("id") ? "id" : params.get("key") || !params.get("topic") ? "key" : "time";
  const fields = el("div", { className: "inline" });
  const tabs = el("div", { className: "tabs" });
  function drawForm() {
    tabs.replaceChildren(...[["key", "By key"], ["id", "By id"], ["time", "By topic and time"]].map(([m, t]) =>
      el("button", { type: "button", id: "tab-" + m, className: m === mode ? "active" : "", onclick: () => { mode = m; drawForm(); } }, t)));
    const f = { key: [el("label", {}, "Topic", topic), el("label", {}, "Key", key)],
      id: [el("label", {}, "Message id", id), el("label", {}, "Topic (optional)", topic)],
      time: [el("label", {}, "Topic", topic), el("label", {}, "From", begin), el("label", {}, "To", end)] }[mode];
    fields.replaceChildren(...f);
  }
  const form = el("form", { className: "card", id: "query-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (topic.value.trim()) p.set("topic", topic.value.trim());
    if (mode === "key") p.set("key", key.value.trim());
    if (mode === "id") p.set("id", id.value.trim());
    if (mode === "time") { p.set("begin", new Date(begin.value).getTime()); p.set("end", new Date(end.value).getTime()); }
    out.replaceChildren(el("p", { className: "muted" }, "Searching…"));
    try {
      const { messages } = await api("/api/messages?" + p);
      out.replaceChildren(el("p", { className: "muted", id: "result-count" }, messages.length + " message(s)"), messageTable(messages));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, tabs, el("div", { className: "inline" }, fields, el("button", { type: "submit", id: "q-submit" }, "Search")));
  drawForm();
  view(el("h1", {}, "Messages"), form, out);
  if (params.get("topic") || params.get("id")) form.requestSubmit();
}

async function messagePage(broker, offset) {
  view(el("h1", {}, "Message"), el("p", { className: "muted" }, "Loading…"));
  try {
    const d = await api("/api/message?broker=" + encodeURIComponent(broker) + "&offset=" + encodeURIComponent(offset));
    const m = d.message;
    const kv = (rows) => el("table", { className: "kv" }, el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { "data-field": k }, v)))));
    const props = Object.keys(d.properties || {}).sort().map((k) => [k, el("code", {}, d.properties[k])]);
    let body;
    if (d.body !== undefined) body = el("pre", { id: "msg-body" }, d.body);
    else if (d.bodyHex !== undefined) body = el("pre", { id: "msg-body" }, d.bodyHex);
    else body = errorBox(d.bodyError || "no body");
    view(el("h1", {}, "Message ", el("code", {}, m.uniqKey || m.msgId)),
      kv([["Topic", topicLink(m.topic)], ["Offset message id", el("code", {}, m.msgId)], ["Client message id", el("code", {}, m.uniqKey || "–")],
        ["Tags", m.tags || "–"], ["Keys", m.keys || "–"], ["Broker", el("code", {}, m.broker)], ["Queue / offset", m.queueId + " / " + m.queueOffset],
        ["Born", fmtTime(m.bornTimestamp) + " from " + d.bornHost], ["Stored", fmtTime(m.storeTimestamp) + " on " + d.storeHost],
        ["Reconsume times", String(m.reconsumeTimes)], ["Body", fmtNum(m.bodySize) + " bytes" + (d.compressed ? " (compressed)" : "") + (d.truncated ? ", preview truncated" : "")]]),
      el("h2", {}, "Body"), body,
      el("h2", {}, "Properties"), kv(props),
      el("h2", {}, "Trace"),
      d.trace.length ? table("trace", [["Type"], ["Time"], ["Fields", "wrap"]], d.trace.map((f) => [f[0], fmtTime(Number(f[1])), el("code", {}, f.slice(2).join(" | "))]))
        : el("p", { className: "muted" }, "No trace records (the producer and consumers did not enable message trace)."));
  } catch (e) { view(el("h1", {}, "Message"), errorBox(e)); }
}

async function dlqPage() {
  const box = el("div", {});
  view(el("h1", {}, "Dead-letter queues"), box);
  every(5000, async () => {
    try {
      const { dlq } = await api("/api/dlq");
      box.replaceChildren(table("dlq", [["Group"], ["Topic"], ["Messages", "num", "messages"]],
        dlq.map((d) => ({ attrs: { "data-group": d.group }, cells: [link("#/dlq/" + encodeURIComponent(d.group), d.group), d.topic, fmtNum(d.messages)] })),
        "No dead-lettered message: no group has a %DLQ% topic."));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  });
}

async function dlqGroupPage(group) {
  const box = el("div", {}), msg = el("div", {});
  view(el("h1", {}, "Dead letters of ", el("code", {}, group)),
    el("p", { className: "muted" }, "Resend puts a message on the group's retry topic, so this group (and only it) consumes it again."), msg, box);
  const resend = async (m) => {
    try {
      const r = await post("/api/dlq/resend", { group, broker: m.broker, commitLogOffset: m.commitLogOffset });
      msg.replaceChildren(noticeBox("Resent to " + r.topic + " as " + r.msgId));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  };
  try {
    const d = await api("/api/dlq/messages?group=" + encodeURIComponent(group));
    const extra = { cols: [["Original topic"], ["Retries", "num"]], cells: (m) => [m.retryTopic || "–", String(m.reconsumeTimes)] };
    if (state.admin) {
      extra.cols.push([""]);
      const base = extra.cells;
      extra.cells = (m) => [...base(m), el("button", { className: "secondary", onclick: () => resend(m) }, "Resend")];
    }
    box.replaceChildren(messageTable(d.messages, extra));
  } catch (e) { box.replaceChildren(errorBox(e)); }
}

// ---- routing ----

function route() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  const raw = location.hash.replace(/^#\/?/, "") || "cluster";
  const [pathPart, qs] = raw.split("?");
  const parts = pathPart.split("/").map(decodeURIComponent);
  const params = new URLSearchParams(qs || "");
  for (const a of document.querySelectorAll("#nav a")) {
    const page = { topic: "topics", group: "groups", message: "messages" }[parts[0]] || parts[0];
    a.classList.toggle("active", a.dataset.page === page);
  }
  switch (parts[0]) {
    case "topics": return topicsPage();
    case "topic": return topicPage(parts.slice(1).join("/"));
    case "groups": return groupsPage();
    case "group": return groupPage(parts.slice(1).join("/"));
    case "producers": return producersPage(params);
    case "messages": return messagesPage(params);
    case "message": return messagePage(parts[1], parts[2]);
    case "dlq": return parts[1] ? dlqGroupPage(parts.slice(1).join("/")) : dlqPage();
    default: return clusterPage();
  }
}

async function start() {
  try {
    const info = await api("/api/info");
    state.admin = info.admin;
    const mode = document.getElementById("mode");
    mode.textContent = info.admin ? "admin" : "read-only";
    mode.classList.toggle("admin", info.admin);
    document.getElementById("namesrv").textContent = "name server " + info.namesrv.join(";");
  } catch (e) { /* the page shows the API's error */ }
  window.addEventListener("hashchange", route);
  route();
}

start();
