// store testkit: the deterministic simulation (a seeded network, an in-memory disk, a whole
// planet in one process, its workload and checker) and the compliance suites that every
// Storage and Transport runs. Test code only: production code never imports this folder
// (scripts/check-imports.ts fails the build otherwise), and src/store/index.ts does not
// export it. Tests of other parts import it through this file.

export { type Action, type Mode, type Sent, Sim } from "./crdt-sim.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./memory-storage.ts";
export { SimCluster, type SimClusterOptions } from "./sim-cluster.ts";
export { SimNetwork, type SimNetworkOptions, type SimNetworkStats } from "./sim-network.ts";
export { runSimulation, type SimulationOptions, type SimulationReport, simPlanetYaml } from "./sim-workload.ts";
export { type StorageHarness, storageCompliance } from "./storage-compliance.ts";
export {
  type TransportCluster,
  type TransportClusterOptions,
  type TransportHarness,
  transportCompliance,
} from "./transport-compliance.ts";
