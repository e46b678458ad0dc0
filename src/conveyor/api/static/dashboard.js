// The dashboard: lists recent runs and follows one run's events over the WebSocket.
// Everything is written with textContent, never innerHTML: run data is user data.
"use strict";

const keyInput = document.getElementById("api-key");
const runsBody = document.getElementById("runs");
const notice = document.getElementById("notice");
const eventsPre = document.getElementById("events");
const selectedLabel = document.getElementById("selected");
let socket = null;
let selectedRun = null;

keyInput.value = sessionStorage.getItem("conveyor-api-key") || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem("conveyor-api-key", keyInput.value);
  refresh();
});
document.getElementById("refresh").addEventListener("click", refresh);

function headers() {
  return keyInput.value ? { "X-API-Key": keyInput.value } : {};
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

async function refresh() {
  try {
    const response = await fetch("/v1/runs?limit=50", { headers: headers() });
    const body = await response.json();
    if (!response.ok) {
      notice.textContent = `${body.error}: ${body.message}`;
      return;
    }
    notice.textContent = "";
    runsBody.replaceChildren();
    for (const run of body.items) {
      const row = document.createElement("tr");
      if (run.run_id === selectedRun) row.className = "selected";
      cell(row, run.run_id);
      cell(row, run.workflow);
      cell(row, run.status, `status-${run.status}`);
      cell(row, new Date(run.updated_at * 1000).toLocaleTimeString());
      cell(row, String(run.last_seq));
      row.addEventListener("click", () => follow(run.run_id));
      runsBody.appendChild(row);
    }
  } catch (error) {
    notice.textContent = `cannot reach the server: ${error}`;
  }
}

function follow(runId) {
  if (socket) socket.close();
  selectedRun = runId;
  selectedLabel.textContent = runId;
  eventsPre.textContent = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = keyInput.value ? `?api_key=${encodeURIComponent(keyInput.value)}` : "";
  socket = new WebSocket(`${scheme}://${location.host}/v1/runs/${encodeURIComponent(runId)}/ws${query}`);
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const line = event.type === "error"
      ? `! ${event.error}: ${event.message}`
      : `${String(event.seq).padStart(4)} ${event.type}${event.step ? " " + event.step : ""} ${JSON.stringify(event.data)}`;
    eventsPre.textContent += line + "\n";
    eventsPre.scrollTop = eventsPre.scrollHeight;
  };
  socket.onclose = (close) => {
    eventsPre.textContent += `-- stream closed (${close.code})\n`;
    refresh();
  };
  refresh();
}

refresh();
setInterval(refresh, 5000);
