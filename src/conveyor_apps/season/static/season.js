// The season planning page: opens the session's WebSocket, starts a plan in the
// background, shows each agent's progress live and draws the plan when it completes.
// Text is always set with textContent, never innerHTML: plans carry user input.
"use strict";

const API = "/api/orchestrator";
const AGENTS = ["parameters", "context", "demand", "inventory"];
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
const strategy = $("strategy");
const category = $("category");
const button = $("plan");
const statusLine = $("status");
const errorLine = $("error");
const progressBar = $("progress");
const stream = $("stream");

const sessionId = newId();
let socket = null;
let currentRun = null;

keyInput.value = sessionStorage.getItem("conveyor-api-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("conveyor-api-key", keyInput.value);
  if (socket) socket.close();
  socket = null;
  loadChoices();
});
button.addEventListener("click", plan);

function newId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}

function headers(extra) {
  const found = keyInput.value ? { "X-API-Key": keyInput.value } : {};
  return Object.assign(found, extra || {});
}

async function getJson(path) {
  const response = await fetch(path, { headers: headers() });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error}: ${body.message}`);
  return body;
}

async function loadChoices() {
  try {
    const [categories, scenarios] = await Promise.all([
      getJson(`${API}/categories`),
      getJson(`${API}/scenarios`),
    ]);
    category.replaceChildren();
    for (const item of categories) {
      const option = document.createElement("option");
      option.value = item.category_id;
      option.textContent = `${item.category_id} · ${item.name}${item.has_history ? "" : " (no history)"}`;
      category.appendChild(option);
    }
    const row = $("scenarios");
    row.replaceChildren();
    for (const scenario of scenarios) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "secondary";
      chip.textContent = scenario.name;
      chip.title = scenario.description;
      chip.addEventListener("click", () => { strategy.value = scenario.description; });
      row.appendChild(chip);
    }
    if (!strategy.value && scenarios.length) strategy.value = scenarios[0].description;
    errorLine.textContent = "";
  } catch (error) {
    errorLine.textContent = `cannot load categories: ${error.message}`;
  }
}

function connect() {
  if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = keyInput.value ? `?api_key=${encodeURIComponent(keyInput.value)}` : "";
    const url = `${scheme}://${location.host}/ws/orchestrator/${sessionId}${query}`;
    const opened = new WebSocket(url);
    opened.onmessage = (raw) => {
      const message = JSON.parse(raw.data);
      if (message.type === "connected") {
        socket = opened;
        resolve(opened);
        return;
      }
      onMessage(message);
    };
    opened.onerror = () => reject(new Error("the progress stream could not connect"));
    opened.onclose = () => {
      if (socket === opened) socket = null;
      if (currentRun) poll(currentRun);
    };
  });
}

function resetAgents() {
  for (const item of document.querySelectorAll("#agents li")) {
    setAgent(item.dataset.agent, "waiting", "");
  }
  progressBar.value = 0;
  stream.textContent = "";
}

function setAgent(agent, state, message) {
  const item = document.querySelector(`#agents li[data-agent="${agent}"]`);
  if (!item) return;
  const badge = item.querySelector(".state");
  badge.textContent = state;
  badge.className = `state state-${state}`;
  if (message !== undefined) item.querySelector(".agent-message").textContent = message;
}

function log(message) {
  const time = message.timestamp.slice(11, 23);
  const who = message.agent ? ` ${message.agent}` : "";
  const what = message.status || message.message || "";
  stream.textContent += `${time} ${message.type}${who} ${what}\n`;
  stream.scrollTop = stream.scrollHeight;
}

function onMessage(message) {
  if (currentRun && message.run_id && message.run_id !== currentRun) return;
  log(message);
  if (message.type === "agent_status") {
    const detail = message.error ? `${message.error.type}: ${message.error.message}` : undefined;
    setAgent(message.agent, message.status, detail);
  } else if (message.type === "progress") {
    if (message.agent) setAgent(message.agent, "started", message.message);
    else {
      if (typeof message.progress === "number") progressBar.value = message.progress;
      statusLine.textContent = message.message;
    }
  } else if (message.type === "complete") {
    progressBar.value = 1;
    finish();
    render(message.result);
  } else if (message.type === "error") {
    finish();
    showError(message.error, message.status_code);
  }
}

function showError(error, status) {
  const code = status ? ` (${status})` : "";
  errorLine.textContent = `${error.type}${code}: ${error.message}`;
  statusLine.textContent = "failed";
}

function finish() {
  currentRun = null;
  button.disabled = false;
}

async function plan() {
  errorLine.textContent = "";
  button.disabled = true;
  resetAgents();
  $("result").hidden = true;
  $("placeholder").hidden = false;
  statusLine.textContent = "connecting…";
  try {
    await connect();
    statusLine.textContent = "starting…";
    const response = await fetch(`${API}/run-workflow`, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({
        strategy_description: strategy.value,
        category_id: category.value,
        session_id: sessionId,
        background: true,
      }),
    });
    const body = await response.json();
    if (!response.ok) {
      finish();
      showError({ type: body.error, message: body.message }, response.status);
      return;
    }
    currentRun = body.run_id;
    statusLine.textContent = `run ${body.run_id.slice(0, 8)} started`;
  } catch (error) {
    finish();
    errorLine.textContent = error.message;
  }
}

async function poll(runId) {
  // Only when the stream dropped mid-run: ask for the outcome instead.
  try {
    const body = await getJson(`${API}/runs/${runId}`);
    if (body.status === "completed") { finish(); render(body.plan); }
    else if (body.error) { finish(); showError({ type: body.error.error, message: body.error.message }); }
    else setTimeout(() => { if (currentRun === runId) poll(runId); }, 1000);
  } catch (error) {
    finish();
    errorLine.textContent = error.message;
  }
}

const number = (value) => Number(value).toLocaleString("en-US");

function render(plan) {
  const inventory = plan.inventory;
  const forecast = plan.forecast;
  const params = plan.parameters;
  statusLine.textContent = "plan ready";
  const summary = $("summary");
  summary.replaceChildren();
  const rows = [
    ["Category", plan.category_id],
    ["Season", `${params.season_start_date} → ${params.season_end_date} (${params.forecast_horizon_weeks} weeks)`],
    ["Replenishment", params.replenishment_strategy],
    ["Forecast", `${number(forecast.total_units)} units`],
    ["Safety stock", `× ${forecast.safety_stock_multiplier}`],
    ["Manufacture", `${number(inventory.manufacturing_qty)} units`],
    ["DC holdback", `${number(inventory.dc_holdback_qty)} units (${Math.round(params.dc_holdback_percentage * 100)}%)`],
    ["To stores now", `${number(inventory.initial_allocation_qty)} units`],
    ["Method", forecast.method],
  ];
  for (const [name, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = name.toLowerCase().replaceAll(" ", "-");
    summary.append(dt, dd);
  }
  drawChart(forecast.weekly_curve);
  const clusters = $("clusters");
  clusters.replaceChildren();
  for (const [name, cluster] of Object.entries(forecast.clusters)) {
    const row = document.createElement("tr");
    const cells = [name, String(cluster.store_ids.length), `${(cluster.share * 100).toFixed(1)}%`,
                   number(inventory.cluster_allocations[name] || 0)];
    cells.forEach((text, index) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (index > 0) td.className = "num";
      row.appendChild(td);
    });
    clusters.appendChild(row);
  }
  $("placeholder").hidden = true;
  $("result").hidden = false;
}

function svg(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawChart(curve) {
  const chart = $("chart");
  const title = $("chart-title");
  chart.replaceChildren(title);
  const width = 640, height = 260, left = 52, right = 10, top = 12, bottom = 34;
  const plotW = width - left - right, plotH = height - top - bottom;
  const peak = Math.max(1, ...curve.map((point) => point.units));
  const step = plotW / curve.length;
  chart.appendChild(svg("line", { class: "axis", x1: left, y1: top + plotH, x2: width - right, y2: top + plotH }));
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotH - fraction * plotH;
    chart.appendChild(svg("line", { class: "axis", x1: left - 4, y1: y, x2: left, y2: y }));
    chart.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, number(Math.round(peak * fraction))));
  }
  const labelEvery = Math.max(1, Math.ceil(curve.length / 8));
  curve.forEach((point, index) => {
    const barH = (point.units / peak) * plotH;
    const bar = svg("rect", {
      class: "bar", x: left + index * step + step * 0.12, y: top + plotH - barH,
      width: step * 0.76, height: barH, "data-week": point.week_start, "data-units": point.units,
    });
    bar.appendChild(svg("title", {}, `${point.week_start}: ${number(point.units)} units`));
    chart.appendChild(bar);
    if (index % labelEvery === 0) {
      chart.appendChild(svg("text", { x: left + index * step + step / 2, y: height - 14, "text-anchor": "middle" },
                            point.week_start.slice(5)));
    }
  });
  chart.appendChild(svg("text", { x: left, y: height - 1 }, "week starting (MM-DD) · units per week"));
}

loadChoices();
