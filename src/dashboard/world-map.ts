// The world map, drawn once on the server: the land of the `world-atlas` package (Natural
// Earth 1:110m, TopoJSON) turned into features by `topojson-client` and projected by
// `d3-geo` to one SVG path string in an equirectangular frame of mapWidth × mapHeight. The
// same frame is a straight line from (lon, lat), so the page places sites, regions, arcs and
// the night side with two multiplications and needs no d3 at all.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { geoEquirectangular, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import { mapHeight, mapWidth } from "./constants.ts";

export type WorldMap = { readonly width: number; readonly height: number; readonly landPath: string };

const require = createRequire(import.meta.url);

/** The map frame: x from longitude, y from latitude. */
export function project(lon: number, lat: number): [number, number] {
  return [((lon + 180) / 360) * mapWidth, ((90 - lat) / 180) * mapHeight];
}

let cached: WorldMap | undefined;

export function worldMap(): WorldMap {
  if (cached) return cached;
  const file = require.resolve("world-atlas/land-110m.json");
  const topology = JSON.parse(readFileSync(file, "utf8")) as Topology<{ land: GeometryCollection }>;
  const land = feature(topology, topology.objects.land);
  const projection = geoEquirectangular()
    .scale(mapWidth / (2 * Math.PI))
    .translate([mapWidth / 2, mapHeight / 2])
    .precision(0.5);
  const path = geoPath(projection).digits(1)(land) ?? "";
  cached = { width: mapWidth, height: mapHeight, landPath: path };
  return cached;
}
