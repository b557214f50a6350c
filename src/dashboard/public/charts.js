// Charts over time with uPlot (served from node_modules/uplot by our server): requests/s per
// site, p99 per client region, user-visible errors per second, replication lag and pending
// hints per site. Faults are dashed vertical markers on every chart.
const colours = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#c77dff", "#90e0ef", "#ff8fab", "#adb5bd"];
const pointsMax = 600;
const height = 150;
let charts = [];
let times = [];
let markers = [];

function markerPlugin() {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#e5484d";
        ctx.lineWidth = 1;
        ctx.setLineDash([4, 3]);
        for (const m of markers) {
          const x = u.valToPos(m.tS, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

function compact(v) {
  if (v === null) return "";
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function widthOf(el) {
  return Math.max(260, el.clientWidth - 8);
}

/** One chart: its element, its series' names and how a point gives their values. */
function make(id, names, valuesOf) {
  const el = document.getElementById(id);
  for (const old of el.querySelectorAll(".uplot")) old.remove();
  const opts = {
    width: widthOf(el),
    height,
    plugins: [markerPlugin()],
    legend: { live: false },
    scales: { x: { time: true } },
    axes: [
      // UTC, as the clock in the header shows it.
      {
        stroke: "#aab",
        space: 70,
        values: (_u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(11, 19)),
      },
      { stroke: "#aab", size: 56, values: (_u, splits) => splits.map(compact) },
    ],
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: colours[i % colours.length], width: 1.5 }))],
  };
  return { el, valuesOf, columns: names.map(() => []), plot: new uPlot(opts, [[], ...names.map(() => [])], el) };
}

export function initCharts(hello) {
  for (const c of charts) c.plot.destroy();
  const sites = hello.planet.sites.map((s) => s.name);
  const regions = hello.planet.regions.map((r) => r.name);
  times = [];
  markers = [...hello.markers];
  charts = [
    make("chart-rps", sites, (p) => p.reqPerSBySite),
    make("chart-p99", regions, (p) => p.p99MsByRegion),
    make("chart-err", ["errors/s"], (p) => [p.errorsPerS]),
    make("chart-lag", sites, (p) => p.lagMsBySite),
    make("chart-hints", sites, (p) => p.hintsBySite),
  ];
  for (const p of hello.series) push(p);
  redraw();
}

function push(p) {
  times.push(p.tS);
  for (const c of charts) {
    const values = c.valuesOf(p);
    c.columns.forEach((col, i) => {
      col.push(values[i] ?? null);
    });
  }
  if (times.length > pointsMax) {
    times.shift();
    for (const c of charts) for (const col of c.columns) col.shift();
  }
}

function redraw() {
  for (const c of charts) c.plot.setData([times, ...c.columns]);
}

export function addPoint(p) {
  push(p);
  redraw();
}

export function addMarker(m) {
  markers.push(m);
  if (markers.length > 200) markers.shift();
  redraw();
}

window.addEventListener("resize", () => {
  for (const c of charts) c.plot.setSize({ width: widthOf(c.el), height });
});
