// The world map: land (an SVG path the server projected from world-atlas with d3-geo), the
// night side for the sun clock's time, the sites coloured by health, the client regions, and
// one arc per (region, serving site) whose width is its share of the region's ops. The frame
// is equirectangular, so a point is placed with two multiplications.
const W = 1000;
const H = 500;
const NS = "http://www.w3.org/2000/svg";
const svg = () => document.getElementById("map");

export function project(lon, lat) {
  return [((lon + 180) / 360) * W, ((90 - lat) / 180) * H];
}

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

/** The sun's declination and the longitude where it is noon, at a UTC time (a low-precision almanac). */
function sunAt(ms) {
  const day = (ms / 86_400_000) % 365.25;
  const decl = -23.44 * Math.cos(((2 * Math.PI) / 365.25) * (day + 10));
  const utcHours = (ms % 86_400_000) / 3_600_000;
  return { decl, noonLon: 180 - utcHours * 15 };
}

/** The night side: for each longitude the latitude where the sun sets, closed toward the dark pole. */
export function nightPath(ms) {
  const { decl, noonLon } = sunAt(ms);
  const tanDecl = Math.tan((Math.max(Math.abs(decl), 0.1) * Math.sign(decl || 1) * Math.PI) / 180);
  const pts = [];
  for (let lon = -180; lon <= 180; lon += 3) {
    const lat = (Math.atan(-Math.cos(((lon - noonLon) * Math.PI) / 180) / tanDecl) * 180) / Math.PI;
    pts.push(project(lon, lat));
  }
  const poleY = decl > 0 ? H : 0;
  return `M0,${poleY}L${pts.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join("L")}L${W},${poleY}Z`;
}

const siteColour = { healthy: "#2fbf71", degraded: "#f0b429", down: "#e5484d", evacuated: "#7c8cf8" };
const arcColours = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#c77dff", "#90e0ef"];

export function initMap(hello) {
  const s = svg();
  s.replaceChildren();
  el("rect", { x: 0, y: 0, width: W, height: H, class: "sea" }, s);
  el("path", { d: hello.map.landPath, class: "land" }, s);
  el("path", { id: "night", class: "night", d: "" }, s);
  el("g", { id: "links" }, s);
  el("g", { id: "arcs" }, s);
  const regions = el("g", { id: "regions" }, s);
  for (const r of hello.planet.regions) {
    const [x, y] = project(r.lon, r.lat);
    const g = el("g", { class: "region", "data-region": r.name }, regions);
    el("rect", { x: x - 5, y: y - 5, width: 10, height: 10 }, g);
    el("text", { x: x + 7, y: y + 12, class: "label small" }, g).textContent = r.name;
  }
  const sites = el("g", { id: "map-sites" }, s);
  hello.planet.sites.forEach((site, i) => {
    const [x, y] = project(site.lon, site.lat);
    const g = el("g", { class: "site", "data-site": site.name, "data-health": "down" }, sites);
    el("circle", { cx: x, cy: y, r: 16, class: "halo", stroke: arcColours[i % arcColours.length] }, g);
    el("circle", { cx: x, cy: y, r: 9, class: "core" }, g);
    el("text", { x: x + 13, y: y - 10, class: "label" }, g).textContent = `${site.name} · ${site.city}`;
    el("text", { x: x + 13, y: y + 4, class: "label small figures" }, g);
  });
}

function arcPath(a, b) {
  const mx = (a[0] + b[0]) / 2;
  const my = (a[1] + b[1]) / 2;
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = Math.hypot(dx, dy) || 1;
  const lift = Math.min(120, 0.25 * len + 10);
  return `M${a[0].toFixed(1)},${a[1].toFixed(1)}Q${(mx + (dy / len) * lift).toFixed(1)},${(my - (Math.abs(dx) / len) * lift).toFixed(1)} ${b[0].toFixed(1)},${b[1].toFixed(1)}`;
}

export function drawMap(hello, view) {
  document.getElementById("night").setAttribute("d", nightPath(view.sunUtcMs));
  const siteIndex = new Map(hello.planet.sites.map((s, i) => [s.name, i]));
  const where = new Map(hello.planet.sites.map((s) => [s.name, project(s.lon, s.lat)]));
  for (const v of view.sites) {
    const g = svg().querySelector(`g.site[data-site="${v.name}"]`);
    if (!g) continue;
    g.setAttribute("data-health", v.health);
    g.querySelector(".core").setAttribute("fill", siteColour[v.health] || "#888");
    const f = v.figures;
    g.querySelector(".figures").textContent =
      `${v.health}${v.localHour !== null ? ` · ${v.localHour.toFixed(1)} h` : ""}${f ? ` · ${f.reqPerS.toFixed(1)} req/s` : ""}`;
  }
  // A region's square takes the colour of the site serving most of its users: a short arc
  // (a region next to its site) is hard to see, the colour is not.
  for (const r of hello.planet.regions) {
    const top = view.arcs.filter((a) => a.region === r.name).sort((x, y) => y.ops - x.ops)[0];
    const sq = svg().querySelector(`g.region[data-region="${r.name}"]`);
    if (!sq) continue;
    sq.setAttribute("data-served-by", top ? top.site : "");
    sq.querySelector("rect").setAttribute(
      "fill",
      top ? arcColours[(siteIndex.get(top.site) ?? 0) % arcColours.length] : "#cfd6e6",
    );
  }
  const arcs = document.getElementById("arcs");
  arcs.replaceChildren();
  for (const a of view.arcs) {
    const r = hello.planet.regions.find((x) => x.name === a.region);
    const to = where.get(a.site);
    if (!r || !to) continue;
    const colour = arcColours[(siteIndex.get(a.site) ?? 0) % arcColours.length];
    const p = el(
      "path",
      {
        d: arcPath(project(r.lon, r.lat), to),
        class: "arc",
        stroke: colour,
        "stroke-width": (1 + 5 * a.share).toFixed(1),
        "data-region": a.region,
        "data-site": a.site,
        "data-seen-by": a.seenBy ?? "users",
      },
      arcs,
    );
    el("title", {}, p).textContent =
      `${a.region} → ${a.site}: ${a.ops} ops in the last 1.5 s (${Math.round(a.share * 100)}%), seen by ${a.seenBy === "both" ? "the virtual users and the gateways" : a.seenBy === "gateways" ? "the gateways (users this dashboard does not run)" : "the virtual users"}`;
  }
  const links = document.getElementById("links");
  links.replaceChildren();
  for (const [x, y] of view.partitions) {
    const a = where.get(x);
    const b = where.get(y);
    if (a && b) el("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: "cut", "data-cut": `${x}|${y}` }, links);
  }
}
