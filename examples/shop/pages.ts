// The shop's HTML pages: plain forms that POST and redirect (303), no JavaScript. Each form
// carries a fresh idempotency key (`_idem`) made when the page was rendered, so a form sent
// twice (a double click, the browser's resend) applies once.
import { randomUUID } from "node:crypto";
import type { Order } from "./api.ts";
import { catalogue, itemById } from "./catalogue.ts";

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => escapes[c]);
const money = (cents: number) => `€${(cents / 100).toFixed(2)}`;
const idem = () => `<input type="hidden" name="_idem" value="${randomUUID()}">`;

export type PageContext = { readonly user: string | undefined; readonly site: string; readonly instance: string };

function layout(title: string, ctx: PageContext, body: string): string {
  const who = ctx.user
    ? `Signed in as <b>${esc(ctx.user)}</b> <form method="post" action="/logout" style="display:inline">${idem()}<button>Log out</button></form>`
    : `<a href="/login">Log in</a>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · redshirt shop</title>
<style>body{font:16px/1.4 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}
nav a{margin-right:1rem}footer{margin-top:2rem;color:#777;font-size:.8rem}.error{color:#b00}</style></head>
<body><nav><a href="/">Catalogue</a><a href="/cart">Cart</a><a href="/orders">Orders</a> ${who}</nav>
<h1>${esc(title)}</h1>
${body}
<footer>served by ${esc(ctx.instance)} in ${esc(ctx.site)}</footer></body></html>
`;
}

export function cataloguePage(ctx: PageContext): string {
  const rows = catalogue
    .map(
      (i) =>
        `<tr><td>${esc(i.name)}</td><td>${money(i.priceCents)}</td><td>${
          ctx.user
            ? `<form method="post" action="/cart/add">${idem()}<input type="hidden" name="item" value="${esc(i.id)}">` +
              `<input name="quantity" type="number" min="1" max="99" value="1" size="3"> <button>Add to cart</button></form>`
            : ""
        }</td></tr>`,
    )
    .join("\n");
  const hint = ctx.user ? "" : `<p><a href="/login">Log in</a> to shop.</p>`;
  return layout("Catalogue", ctx, `${hint}<table><tr><th>Item</th><th>Price</th><th></th></tr>\n${rows}</table>`);
}

export function loginPage(ctx: PageContext, error?: string): string {
  const err = error ? `<p class="error">${esc(error)}</p>` : "";
  return layout(
    "Log in",
    ctx,
    `${err}<form method="post" action="/login">${idem()}<label>User name <input name="user" required pattern="[A-Za-z0-9._\\-]{1,64}"></label> <button>Log in</button></form>`,
  );
}

export function cartPage(ctx: PageContext, cart: Readonly<Record<string, number>>): string {
  const names = Object.keys(cart).sort();
  if (names.length === 0) return layout("Cart", ctx, `<p>Your cart is empty. <a href="/">Shop</a>.</p>`);
  let total = 0;
  const rows = names
    .map((id) => {
      const item = itemById.get(id);
      const price = (item?.priceCents ?? 0) * cart[id];
      total += price;
      return `<tr><td>${esc(item?.name ?? id)}</td><td><form method="post" action="/cart/set">${idem()}<input type="hidden" name="item" value="${esc(id)}"><input name="quantity" type="number" min="0" max="99" value="${cart[id]}" size="3"> <button>Update</button></form></td><td>${money(price)}</td><td><form method="post" action="/cart/remove">${idem()}<input type="hidden" name="item" value="${esc(id)}"><button>Remove</button></form></td></tr>`;
    })
    .join("\n");
  return layout(
    "Cart",
    ctx,
    `<table><tr><th>Item</th><th>Quantity</th><th>Price</th><th></th></tr>\n${rows}\n<tr><th>Total</th><td></td><th>${money(total)}</th><td></td></tr></table>
<form method="post" action="/checkout">${idem()}<p><button>Check out</button></p></form>`,
  );
}

export function ordersPage(ctx: PageContext, orders: readonly Order[]): string {
  if (orders.length === 0) return layout("Orders", ctx, "<p>No orders yet.</p>");
  const rows = orders
    .map(
      (o) =>
        `<tr><td>${esc(o.id)}</td><td>${esc(o.createdAtIso)}</td><td>${Object.entries(o.items)
          .map(([id, q]) => `${q} × ${esc(itemById.get(id)?.name ?? id)}`)
          .join(", ")}</td><td>${money(o.totalCents)}</td></tr>`,
    )
    .join("\n");
  return layout(
    "Orders",
    ctx,
    `<table><tr><th>Order</th><th>Placed</th><th>Items</th><th>Total</th></tr>\n${rows}</table>`,
  );
}

export function errorPage(ctx: PageContext, status: number, message: string): string {
  return layout(`Error ${status}`, ctx, `<p class="error">${esc(message)}</p><p><a href="/">Back to the shop</a></p>`);
}
