// Distance is physics: inter-site delay comes from the great-circle distance, light in
// fiber (~200 km per ms one way), and a route-stretch factor because cables do not follow
// great circles.

export const earthRadiusKm = 6371.0088;
export const fiberKmPerMsDefault = 200;
export const routeStretchDefault = 1.5;

export type LatLon = { readonly lat: number; readonly lon: number };

/** Great-circle distance by the haversine formula. */
export function greatCircleKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * earthRadiusKm * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Round-trip time implied by a distance over fiber with route stretch. */
export function rttMsForKm(distanceKm: number, options: { fiberKmPerMs?: number; routeStretch?: number } = {}): number {
  const fiber = options.fiberKmPerMs ?? fiberKmPerMsDefault;
  const stretch = options.routeStretch ?? routeStretchDefault;
  return (2 * distanceKm * stretch) / fiber;
}

/** One-way delay implied by a distance: half the round trip. */
export function oneWayMsForKm(
  distanceKm: number,
  options: { fiberKmPerMs?: number; routeStretch?: number } = {},
): number {
  return rttMsForKm(distanceKm, options) / 2;
}
