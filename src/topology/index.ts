// topology: the planet file (sites, coordinates, tiers, zone, store options, client
// networks, the WAN), validated with errors that name the field and line; the address plan
// (each site its own subnet); great-circle distance and the round-trip time it implies; and
// the one dialing code path (dialAddress: where a site or region dials a target).
export {
  type Cidr,
  cidrContains,
  formatIpv4,
  parseCidr,
  parseIpv4,
  type Role,
  roleAddress,
  roleOctet,
} from "./address.ts";
export * as topologyConstants from "./constants.ts";
export {
  type DialerKind,
  dialAddress,
  dialerLocation,
  dialTarget,
  type Endpoint,
  endpointOf,
  type HostPort,
  type LinkEndpoint,
  type LinkListener,
  type LinkPlan,
  type LinkProtocol,
  linkOneWayMs,
  linkServices,
  siteLinks,
} from "./dial.ts";
export { topologyErrors } from "./errors.ts";
export {
  type GatewaySettings,
  gatewaySettingsSchema,
  type ServiceSettings,
  serviceSettingsSchema,
} from "./gateway-settings.ts";
export { earthRadiusKm, greatCircleKm, type LatLon, oneWayMsForKm, rttMsForKm } from "./geo.ts";
export {
  type Consistency,
  consistencyLevels,
  dnsAdminOf,
  loadPlanet,
  locateClient,
  type NodeInfo,
  type Planet,
  type PlanetInput,
  parsePlanet,
  planetSchema,
  type Region,
  type ServiceOptions,
  type Site,
  siteByName,
  siteRttMs,
  sitesByDistance,
  storeNode,
  storeNodeById,
  validatePlanet,
  type WanMode,
  wanModes,
} from "./planet.ts";
export { type SunConfig, sunClockSpeedMax, sunCurvePointsMax, sunSchema } from "./sun.ts";
