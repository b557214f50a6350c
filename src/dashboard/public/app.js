// The page: one event stream from the dashboard server (hello, then views, chart points,
// events and fault markers as they happen), drawn by map.js, panels.js and charts.js. The
// control token comes from the URL's fragment (#token=…, never sent to a server); without
// it every control is disabled and the server would refuse it anyway.

import { addMarker, addPoint, initCharts } from "./charts.js";
import { drawMap, initMap } from "./map.js";
import { addEvent, drawPanels, initPanels } from "./panels.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const conn = document.getElementById("conn");
const banner = document.getElementById("banner");
let hello = null;

/** Posts an action with the token; resolves to the server's answer, shows a refusal. */
export async function act(name, body = {}) {
  const res = await fetch(`/api/actions/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) {
    addEvent({
      seq: 0,
      atMs: Date.now(),
      kind: "error",
      site: null,
      text: `${name}: ${answer.error?.code}: ${answer.error?.message}`,
    });
  }
  return answer;
}

export const canAct = token !== "";
document.body.classList.toggle("readonly", !canAct);
document.getElementById("readonly-note").hidden = canAct;
document.getElementById("mode").textContent = canAct ? "operator" : "read-only";

function setConnected(ok) {
  conn.textContent = ok ? "live" : "disconnected — reconnecting";
  conn.className = `badge ${ok ? "conn-ok" : "conn-lost"}`;
  banner.hidden = ok;
  document.body.classList.toggle("disconnected", !ok);
}

function draw(view) {
  drawMap(hello, view);
  drawPanels(view);
  const d = new Date(view.sunUtcMs);
  const speed = view.sunClockSpeed !== 1 ? ` (×${view.sunClockSpeed})` : "";
  const clock = document.getElementById("clock");
  clock.textContent = `☀ ${d.toISOString().slice(11, 16)} UTC${speed}`;
  // The simulated time itself, for whoever reads the page (the browser test measures its rate).
  clock.dataset.simMs = String(view.sunUtcMs);
  clock.dataset.nowMs = String(view.nowMs);
  clock.dataset.speed = String(view.sunClockSpeed);
  // The choice follows the planet's clock until the operator picks another speed; from then
  // it keeps their pick until they set it (a view arriving between pick and click must not
  // reset it, or "set speed" would send the old speed).
  const sel = document.getElementById("sun-speed");
  if (sel.dataset.picked !== "1" && [...sel.options].some((o) => Number(o.value) === view.sunClockSpeed)) {
    sel.value = String(view.sunClockSpeed);
  }
  document.getElementById("sun-state").textContent = hello.planet.sun ? `×${view.sunClockSpeed}` : "(no sun section)";
}

const source = new EventSource("/api/events");
source.addEventListener("hello", (e) => {
  const first = hello === null;
  hello = JSON.parse(e.data);
  document.getElementById("planet-name").textContent = hello.planet.name;
  if (first) {
    initMap(hello);
    initPanels(hello, { act, canAct });
  }
  initCharts(hello);
  document.getElementById("events").replaceChildren();
  for (const ev of hello.events) addEvent(ev);
  draw(hello.view);
  setConnected(true);
});
source.addEventListener("view", (e) => hello && draw(JSON.parse(e.data)));
source.addEventListener("point", (e) => hello && addPoint(JSON.parse(e.data)));
source.addEventListener("marker", (e) => hello && addMarker(JSON.parse(e.data)));
// From the server learning of an event to its line on the screen (one clock: the same machine); kept for the tests.
const eventLagsMs = [];
window.dashboardEventLagsMs = eventLagsMs;
source.addEventListener("event", (e) => {
  const ev = JSON.parse(e.data);
  addEvent(ev);
  eventLagsMs.push(Date.now() - ev.atMs);
  if (eventLagsMs.length > 1000) eventLagsMs.shift();
});
source.addEventListener("open", () => hello && setConnected(true));
source.addEventListener("error", () => setConnected(false));
