// Charts over time with uPlot (served from node_modules/uplot by our server): requests/s per
// site, p99 per client region, user-visible errors per second. Faults are vertical markers
// on every chart.
const colours = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#c77dff", "#90e0ef", "#ff8fab", "#adb5bd"];
const pointsMax = 600;
let charts = [];
let data = { t: [], rps: [], p99: [], err: [] };
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

function widthOf(el) {
  return Math.max(260, el.clientWidth - 8);
}

function make(id, names) {
  const el = document.getElementById(id);
  for (const old of el.querySelectorAll(".uplot")) old.remove();
  const opts = {
    width: widthOf(el),
    height: 160,
    plugins: [markerPlugin()],
    legend: { live: false },
    scales: { x: { time: true } },
    axes: [{ stroke: "#aab" }, { stroke: "#aab", size: 44 }],
    series: [
      {},
      ...names.map((n, i) => ({ label: n, stroke: colours[i % colours.length], width: 1.5, spanGaps: false })),
    ],
  };
  return { el, plot: new uPlot(opts, [[], ...names.map(() => [])], el) };
}

export function initCharts(hello) {
  for (const c of charts) c.plot.destroy();
  const sites = hello.planet.sites.map((s) => s.name);
  const regions = hello.planet.regions.map((r) => r.name);
  data = { t: [], rps: sites.map(() => []), p99: regions.map(() => []), err: [[]] };
  markers = [...hello.markers];
  charts = [make("chart-rps", sites), make("chart-p99", regions), make("chart-err", ["errors/s"])];
  for (const p of hello.series) push(p);
  redraw();
}

function push(p) {
  data.t.push(p.tS);
  p.reqPerSBySite.forEach((v, i) => {
    data.rps[i].push(v);
  });
  p.p99MsByRegion.forEach((v, i) => {
    data.p99[i].push(v);
  });
  data.err[0].push(p.errorsPerS);
  if (data.t.length > pointsMax) {
    data.t.shift();
    for (const s of [...data.rps, ...data.p99, ...data.err]) s.shift();
  }
}

function redraw() {
  if (charts.length < 3) return;
  charts[0].plot.setData([data.t, ...data.rps]);
  charts[1].plot.setData([data.t, ...data.p99]);
  charts[2].plot.setData([data.t, ...data.err]);
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
  for (const c of charts) c.plot.setSize({ width: widthOf(c.el), height: 160 });
});
