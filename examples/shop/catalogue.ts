// The shop's catalogue: fixed in code, so every instance in every site shows the same one
// without a store read.
export type CatalogueItem = { readonly id: string; readonly name: string; readonly priceCents: number };

export const catalogue: readonly CatalogueItem[] = [
  { id: "apple", name: "Apple", priceCents: 120 },
  { id: "pear", name: "Pear", priceCents: 140 },
  { id: "banana", name: "Banana", priceCents: 90 },
  { id: "cherry", name: "Cherries (250 g)", priceCents: 450 },
  { id: "grape", name: "Grapes (500 g)", priceCents: 380 },
  { id: "lemon", name: "Lemon", priceCents: 70 },
  { id: "mango", name: "Mango", priceCents: 250 },
  { id: "orange", name: "Orange", priceCents: 110 },
  { id: "peach", name: "Peach", priceCents: 160 },
  { id: "plum", name: "Plum", priceCents: 95 },
];

export const itemById: ReadonlyMap<string, CatalogueItem> = new Map(catalogue.map((i) => [i.id, i]));

/** How many of one item a cart may hold (the contract: 1–99 added, 0–99 set). */
export const quantityMax = 99;

export function totalCents(items: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const [id, q] of Object.entries(items)) total += (itemById.get(id)?.priceCents ?? 0) * q;
  return total;
}
