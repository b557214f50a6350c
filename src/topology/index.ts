// topology: the planet file (sites, coordinates, tiers, zone, store options, client
// networks), validated with errors that name the field and line; the address plan (each
// site its own subnet); great-circle distance and the round-trip time it implies.
export { cidrContains, formatIpv4, parseCidr, parseIpv4, type Role, roleAddress, roleOctet } from "./address.ts";
export * as topologyConstants from "./constants.ts";
export { topologyErrors } from "./errors.ts";
export { earthRadiusKm, greatCircleKm, type LatLon, rttMsForKm } from "./geo.ts";
export {
  type Consistency,
  consistencyLevels,
  loadPlanet,
  locateClient,
  type NodeInfo,
  type Planet,
  type PlanetInput,
  parsePlanet,
  planetSchema,
  type Site,
  siteByName,
  siteRttMs,
  sitesByDistance,
  storeNode,
  validatePlanet,
} from "./planet.ts";
