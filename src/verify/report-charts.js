// The proof report's charts, run in the reader's browser (inlined into report.html beside
// uPlot; no network). Reads the timeline from the page's JSON data tag and draws three
// charts over the run — requests served per site, user-visible errors and retries, latency
// p50/p99 per region — with every fault as a shaded band and a label on each of them.
// Plain browser JavaScript, no build step: src/verify/html-report.ts reads this file as text.
(() => {
  const data = JSON.parse(document.getElementById("proof-data").textContent);
  const tl = data.timeline;
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
  const faultColours = {
    "kill-instance": "#d62728",
    "kill-tier": "#e6550d",
    "kill-site": "#a50f15",
    pause: "#756bb1",
    partition: "#3182bd",
    "slow-link": "#31a354",
    "clock-skew": "#636363",
    "empty-disk": "#8c6d31",
  };
  // Fault labels sit in rows above the plot, each in the first row where it overlaps none.
  const labelRows = 4;
  const labelRowPx = 13;
  const labelFontPx = 11;

  /** Shades each fault's start..end under the series and labels it above the plot. */
  function faultBands() {
    const band = (u, f) => {
      const x0 = u.valToPos(f.startS, "x", true);
      const x1 = Math.max(x0 + 2, u.valToPos(f.endS, "x", true));
      const left = Math.max(u.bbox.left, x0);
      return { left, width: Math.min(u.bbox.left + u.bbox.width, x1) - left };
    };
    return {
      hooks: {
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            for (const f of tl.faults) {
              const b = band(u, f);
              if (b.width <= 0) continue;
              ctx.globalAlpha = 0.12;
              ctx.fillStyle = faultColours[f.kind] || "#999";
              ctx.fillRect(b.left, u.bbox.top, b.width, u.bbox.height);
            }
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx;
            const px = window.devicePixelRatio || 1;
            ctx.save();
            // uPlot leaves its axes' alignment on the context: set ours.
            ctx.font = `${labelFontPx * px}px sans-serif`;
            ctx.textAlign = "left";
            ctx.textBaseline = "bottom";
            const rowEnds = new Array(labelRows).fill(Number.NEGATIVE_INFINITY);
            for (const f of tl.faults) {
              const b = band(u, f);
              if (b.width <= 0) continue;
              const colour = faultColours[f.kind] || "#555";
              ctx.fillStyle = colour;
              ctx.fillRect(b.left, u.bbox.top, Math.max(1, px), u.bbox.height);
              const text = `${f.id} ${f.kind} ${f.target}`;
              let row = rowEnds.findIndex((end) => end <= b.left);
              if (row === -1) row = rowEnds.indexOf(Math.min(...rowEnds));
              rowEnds[row] = b.left + ctx.measureText(text).width + 8 * px;
              const y = u.bbox.top - (labelRows - 1 - row) * labelRowPx * px - 2 * px;
              ctx.fillRect(b.left, y - labelRowPx * px + 2 * px, Math.max(1, px), u.bbox.top - y + labelRowPx * px);
              ctx.fillText(text, b.left + 3 * px, y);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  const chartHeightPx = 320;
  const width = () => Math.max(480, Math.min(1200, document.body.clientWidth - 32));
  const axes = (yLabel) => [{ label: "seconds since the run began" }, { label: yLabel, size: 64 }];
  const charts = [];
  function chart(id, title, yLabel, series, columns, yScale) {
    const opts = {
      title,
      width: width(),
      height: chartHeightPx,
      scales: { x: { time: false }, y: yScale || {} },
      axes: axes(yLabel),
      series: [{ label: "t (s)" }, ...series],
      cursor: { sync: { key: "proof" } },
      plugins: [faultBands()],
      // Room above the plot for the fault labels.
      padding: [tl.faults.length > 0 ? 8 + labelRows * labelRowPx : 12, 16, null, null],
    };
    charts.push(new uPlot(opts, [tl.t, ...columns], document.getElementById(id)));
  }

  const line = (label, i, extra) => ({ label, stroke: palette[i % palette.length], width: 2, ...extra });
  chart(
    "chart-served",
    "Requests served per site (successful ops per second)",
    "ops/s",
    tl.sites.map((s, i) => line(s, i)),
    tl.sites.map((s) => tl.servedPerS[s]),
    { range: (_u, _min, max) => [0, Math.max(1, max)] },
  );
  chart(
    "chart-errors",
    "User-visible errors and client retries (per second)",
    "per s",
    [
      { label: "errors users saw", stroke: "#d62728", width: 2, fill: "rgba(214,39,40,0.15)" },
      { label: "retries sent", stroke: "#ff7f0e", width: 1.5 },
    ],
    [tl.errorsPerS, tl.retriesPerS],
    { range: (_u, _min, max) => [0, Math.max(1, max)] },
  );
  chart(
    "chart-latency",
    "Latency per region: p50 (solid) and p99 (dashed), ms, log scale",
    "ms",
    tl.regions.flatMap((r, i) => [
      line(`${r} p50`, i, { spanGaps: false }),
      line(`${r} p99`, i, { dash: [6, 4], width: 1.5, spanGaps: false }),
    ]),
    tl.regions.flatMap((r) => [tl.p50Ms[r], tl.p99Ms[r]]),
    { distr: 3 },
  );
  window.addEventListener("resize", () => {
    for (const c of charts) c.setSize({ width: width(), height: chartHeightPx });
  });
  document.body.dataset.charts = String(charts.length);
})();
