// Per site: its health, phase and faults, its controls (kill, heal, evacuate, restore), and
// per tier (gateway, app, store, dns, and the WAN link process) every instance with its state
// and, from the users' ops, req/s, p99 and errors. Also the planet-wide controls and the log.
let ctx = { act: async () => ({}), canAct: false };
const tierOrder = ["gateway", "app", "store", "dns", "wan"];

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const ttlS = () => Number(document.getElementById("ttl").value);

function button(label, action, body, extra = {}) {
  return h(
    "button",
    {
      class: `ctl ${extra.class ?? ""}`,
      "data-action": action,
      "data-site": body.site,
      title: extra.title,
      disabled: !ctx.canAct,
      onclick: () => ctx.act(action, typeof body === "function" ? body() : body),
    },
    label,
  );
}

export function initPanels(hello, c) {
  ctx = c;
  const a = document.getElementById("link-a");
  const b = document.getElementById("link-b");
  for (const [sel, i] of [
    [a, 0],
    [b, 1],
  ]) {
    sel.replaceChildren(...hello.planet.sites.map((s) => h("option", { value: s.name }, s.name)));
    sel.selectedIndex = Math.min(i, hello.planet.sites.length - 1);
  }
  const speed = document.getElementById("sun-speed");
  speed.addEventListener("change", () => {
    speed.dataset.picked = "1";
  });
  const handlers = {
    "users-start": () => ({ usersPerRegion: Number(document.getElementById("users-n").value) }),
    "users-stop": () => ({}),
    "monkey-start": () => ({ ratePerMin: Number(document.getElementById("monkey-rate").value) }),
    "monkey-stop": () => ({}),
    partition: () => ({ a: a.value, b: b.value }),
    "heal-link": () => ({ a: a.value, b: b.value }),
    "sun-speed": () => {
      const sel = document.getElementById("sun-speed");
      delete sel.dataset.picked;
      return { clockSpeed: Number(sel.value) };
    },
  };
  for (const btn of document.querySelectorAll("#controls button[data-action]")) {
    const name = btn.getAttribute("data-action");
    btn.disabled =
      !ctx.canAct ||
      (btn.classList.contains("wan") && hello.planet.wan !== "emulated") ||
      (btn.classList.contains("sun") && !hello.planet.sun);
    btn.addEventListener("click", () => ctx.act(name, handlers[name]()));
  }
  const cards = document.getElementById("sites");
  cards.replaceChildren(
    ...hello.planet.sites.map((s) =>
      h(
        "article",
        { class: "site-card", "data-site": s.name },
        h("header", {}, h("h2", {}, `${s.name} `, h("small", {}, s.city)), h("span", { class: "health badge" }, "…")),
        h(
          "div",
          { class: "site-actions" },
          button("kill site", "kill-site", () => ({ site: s.name, ttlS: ttlS() }), {
            class: "danger",
            title: "every process of the site (a power loss), back at the TTL",
          }),
          button("heal", "heal-site", { site: s.name }, { title: "revert every fault held on this site now" }),
          button("evacuate", "evacuate", { site: s.name }, { title: "steer its users away, then drain its apps" }),
          button("restore", "restore", { site: s.name }, { title: "bring its apps and users back" }),
        ),
        h("div", { class: "site-figures" }),
        h("div", { class: "tiers" }),
      ),
    ),
  );
}

function fmt(f) {
  if (!f) return "idle";
  return `${f.reqPerS.toFixed(1)} req/s · p99 ${f.p99Ms === null ? "–" : `${Math.round(f.p99Ms)} ms`} · ${f.errors} err`;
}

function age(ms) {
  if (ms === null) return "";
  return ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`;
}

export function drawPanels(view) {
  for (const v of view.sites) {
    const card = document.querySelector(`.site-card[data-site="${v.name}"]`);
    if (!card) continue;
    card.setAttribute("data-health", v.health);
    const badge = card.querySelector(".health");
    badge.textContent = v.reachable ? `${v.health} · ${v.phase}` : "not answering";
    badge.className = `health badge ${v.health}`;
    const faults = v.faults.map(
      (f) => `${f.kind} ${f.slot ?? f.tier ?? ""} (${Math.round(f.expiresInMs / 1000)} s left)`,
    );
    card.querySelector(".site-figures").textContent =
      `${fmt(v.figures)}${faults.length ? ` — faults: ${faults.join(", ")}` : ""}${v.error ? ` — ${v.error}` : ""}`;
    const tiers = card.querySelector(".tiers");
    const rows = [];
    for (const tier of tierOrder) {
      const t = v.tiers.find((x) => x.tier === tier);
      const inst = v.instances.filter((r) => r.tier === tier);
      if (!t && inst.length === 0) continue;
      rows.push(
        h(
          "div",
          { class: "tier", "data-tier": tier },
          h(
            "div",
            { class: "tier-head" },
            h("b", {}, tier),
            h("span", {}, t ? ` ${t.ready}/${t.desired} ready` : ""),
            tier === "app" && t
              ? h(
                  "span",
                  { class: "scale" },
                  button(
                    "−",
                    "scale",
                    { site: v.name, tier, count: Math.max(0, t.desired - 1) },
                    { class: "small", title: "redshirt scale: one app instance fewer" },
                  ),
                  button(
                    "+",
                    "scale",
                    { site: v.name, tier, count: Math.min(t.max, t.desired + 1) },
                    { class: "small", title: "redshirt scale: one app instance more" },
                  ),
                )
              : null,
            button("kill tier", "kill-tier", () => ({ site: v.name, tier, ttlS: ttlS() }), {
              class: "small danger",
              title: `every ${tier} instance, back at the TTL`,
            }),
          ),
          h(
            "ul",
            { class: "instances" },
            ...inst.map((r) =>
              h(
                "li",
                { class: `inst ${r.state}`, "data-slot": r.slot, "data-id": r.id ?? "", "data-state": r.state },
                h("span", { class: "state" }, r.state),
                h(
                  "span",
                  { class: "id", title: `${r.address ?? ""} pid ${r.pid ?? "-"} restarts ${r.restarts}` },
                  r.id ?? r.slot,
                ),
                h("span", { class: "age" }, age(r.ageMs)),
                r.tier === "app" ? h("span", { class: "fig" }, fmt(r.figures)) : null,
                button(
                  "kill",
                  "kill-instance",
                  { site: v.name, slot: r.slot },
                  { class: "small danger", title: "SIGKILL; the supervisor replaces it" },
                ),
              ),
            ),
          ),
        ),
      );
    }
    tiers.replaceChildren(...rows);
  }
  const l = view.load;
  document.getElementById("load-state").textContent = l.running
    ? `running: ${l.usersPerRegion}/region · ${l.ops} ops · ${l.errors} errors`
    : `stopped · ${l.ops} ops · ${l.errors} errors`;
  const m = view.monkey;
  document.getElementById("monkey-state").textContent = m.running
    ? `running: ${m.injected} faults, ${m.blocked} blocked`
    : "stopped";
}

const eventsMax = 300;

export function addEvent(ev) {
  const list = document.getElementById("events");
  const t = new Date(ev.atMs).toISOString().slice(11, 23);
  list.prepend(
    h("li", { class: `ev ${ev.kind}`, "data-kind": ev.kind }, h("time", {}, t), " ", h("span", {}, ev.text)),
  );
  while (list.children.length > eventsMax) list.lastElementChild.remove();
}
