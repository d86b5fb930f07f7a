// laneway's stats page: polls the admin API's JSON and draws each pool and server.
// Plain script, no library: it must run from the admin listener alone (no CDN, no build).
// The token, when given, stays in sessionStorage (this tab only) and goes out as a bearer
// header; changes are sent as JSON with Content-Type: application/json, as the API requires.
"use strict";

const REFRESH_MS = 1500;
const HISTORY = 60;  // samples kept per server for the charts (90 s)
const TOKEN_KEY = "laneway-admin-token";
const history = new Map();  // "pool address" -> {at, requests, failures, rates: [], errors: [], health: []}
let lastOk = 0;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers(extra) {
  const result = Object.assign({}, extra);
  if (token()) result["Authorization"] = "Bearer " + token();
  return result;
}

function say(text) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.hidden = !text;
}

async function api(method, path, body) {
  const options = {method: method, headers: headers(body ? {"Content-Type": "application/json"} : {})};
  if (body) options.body = JSON.stringify(body);
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(response.status + ": " + (data.error || response.statusText));
  return data;
}

function element(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children || []) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

// A sparkline of request and error rates: both scaled to the larger maximum.
function rateChart(rates, errors) {
  const width = 120, height = 24;
  const chart = svg("svg", {class: "chart", width: width, height: height, viewBox: `0 0 ${width} ${height}`});
  const top = Math.max(1, ...rates, ...errors);
  const points = (values) => values.map((value, index) =>
    `${(index * width / (HISTORY - 1)).toFixed(1)},${(height - 1 - value * (height - 2) / top).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", {points: points(rates)}), svg("polyline", {class: "errors", points: points(errors)}));
  return chart;
}

// Health history: one bar per refresh, green when the server took traffic, red when not.
function healthChart(health) {
  const width = 120, height = 12, bar = width / HISTORY;
  const chart = svg("svg", {class: "chart health", width: width, height: height});
  health.forEach((ok, index) => chart.append(
    svg("rect", {class: ok ? "up" : "down", x: (index * bar).toFixed(1), y: 0, width: bar.toFixed(1), height: height})));
  return chart;
}

function verdict(server) {
  if (server.health === "down") return "DOWN";
  if (server.ejected) return "ejected";
  if (server.breaker !== "closed") return "breaker " + server.breaker.replace("_", "-");
  if (server.state !== "ready") return server.state;
  return "up";
}

function milliseconds(seconds) { return seconds === null ? "–" : (seconds * 1000).toFixed(1) + " ms"; }

function remember(server, now) {
  const key = server.pool + " " + server.address;
  const seen = history.get(key) ||
    {at: now, requests: server.requests_total, failures: server.failures_total, rates: [], errors: [], health: []};
  history.set(key, seen);
  const elapsed = (now - seen.at) / 1000;
  const rate = elapsed > 0 ? (server.requests_total - seen.requests) / elapsed : 0;
  const errorRate = elapsed > 0 ? (server.failures_total - seen.failures) / elapsed : 0;
  for (const [list, value] of [[seen.rates, rate], [seen.errors, errorRate], [seen.health, server.takes_traffic]]) {
    list.push(value);
    if (list.length > HISTORY) list.shift();
  }
  Object.assign(seen, {at: now, requests: server.requests_total, failures: server.failures_total});
  return {seen: seen, rate: rate, errorRate: errorRate};
}

function changeButton(server, state) {
  const button = element("button", {type: "button", "data-action": state}, [state === "ready" ? "set ready" : state]);
  if (!token() || server.state === state) button.disabled = true;
  button.title = token() ? "" : "enter the admin token to change servers";
  button.addEventListener("click", async () => {
    const path = `/api/pools/${encodeURIComponent(server.pool)}/servers/${encodeURIComponent(server.address)}/state`;
    try {
      await api("PUT", path, {state: state});
      say("");
      refresh();
    } catch (error) {
      say(`${state} ${server.pool} ${server.address}: ${error.message}`);
    }
  });
  return button;
}

function serverRow(server, now) {
  const {seen, rate, errorRate} = remember(server, now);
  const text = verdict(server);
  const kind = server.takes_traffic ? "serving" : (server.health === "down" || server.ejected || server.breaker === "open" ? "out" : "drained");
  return element("tr", {class: kind, "data-server": server.address, "data-pool": server.pool,
                        "data-health": server.health, "data-state": server.state}, [
    element("td", {class: "name"}, [server.address + (server.backup ? " (backup)" : "")]),
    element("td", {class: "state"}, [text]),
    element("td", {}, [String(server.weight)]),
    element("td", {}, [String(server.in_flight)]),
    element("td", {}, [rate.toFixed(1)]),
    element("td", {}, [errorRate.toFixed(1)]),
    element("td", {}, [String(server.requests_total)]),
    element("td", {}, [String(server.failures_total)]),
    element("td", {}, [milliseconds(server.latency.p50)]),
    element("td", {}, [milliseconds(server.latency.p99)]),
    element("td", {}, [rateChart(seen.rates, seen.errors)]),
    element("td", {}, [healthChart(seen.health)]),
    element("td", {}, [server.last_check ? server.last_check.reason : "–"]),
    element("td", {}, [changeButton(server, "drain"), " ", changeButton(server, "ready")]),
  ]);
}

const COLUMNS = ["server", "state", "weight", "in flight", "req/s", "fail/s", "requests", "failures",
                 "p50", "p99", "traffic (blue) / failures (red)", "takes traffic", "last check", ""];

function poolSection(pool, now) {
  const errors = Object.entries(pool.error_responses).map(([code, count]) => `${code}: ${count}`).join(", ") || "none";
  const head = element("tr", {}, COLUMNS.map((title, index) => element("th", index === 0 ? {class: "name"} : {}, [title])));
  return element("section", {class: "pool", "data-pool": pool.name}, [
    element("h2", {}, [pool.name, element("small", {},
      [`${pool.algorithm} · ${pool.available.length}/${pool.servers.length} available · retries ${pool.retries_total} · answered by laneway: ${errors}`])]),
    element("table", {}, [element("thead", {}, [head]),
                          element("tbody", {}, pool.servers.map((server) => serverRow(server, now)))]),
  ]);
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const pools = await api("GET", "/api/pools");
    const now = Date.now();
    document.getElementById("pools").replaceChildren(...pools.map((pool) => poolSection(pool, now)));
    lastOk = now;
    status.textContent = "live · " + new Date(now).toLocaleTimeString();
    status.classList.remove("stale");
  } catch (error) {
    status.textContent = `not refreshed since ${lastOk ? new Date(lastOk).toLocaleTimeString() : "start"}: ${error.message}`;
    status.classList.add("stale");
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  if (field.value) sessionStorage.setItem(TOKEN_KEY, field.value);
  field.value = "";
  refresh();
});
document.getElementById("forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); refresh(); });

refresh();
setInterval(refresh, REFRESH_MS);
