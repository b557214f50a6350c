// Test kit of the checker: a builder of hand-made histories and a simulator of a correct
// shop that writes what a correct run would. Tests only; production code never imports it.
export { type BuilderPlanet, HistoryBuilder, twoSites } from "./builder.ts";
export { type SimulatedRun, type SimulationOptions, simulateCorrectRun } from "./simulate.ts";
