// What the engine needs of the operating system, as one component: start detached, watch a
// process that is not our child, check identity, find orphans, signal, read a log's tail.
// systemHost() is the production one (Linux /proc); the engine never calls the OS itself.
import type { Clock } from "../../core/index.ts";
import { adoptedPollMs, logTailBytesMax } from "./constants.ts";
import {
  type ExitInfo,
  isSameProcess,
  logTail,
  type OwnedProcess,
  type Spawned,
  type SpawnRequest,
  scanOwned,
  signalGroup,
  spawnDetached,
  watchPid,
} from "./processes.ts";
import { envNames } from "./tiers.ts";

export type Identity = { readonly id: string; readonly startTicks: number | undefined };

export interface ProcessHost {
  spawn(req: SpawnRequest): Spawned;
  /** Resolves when an adopted process is gone (or no longer the one we adopted). */
  watch(pid: number, identity: Identity): { exited: Promise<ExitInfo>; cancel(): void };
  isSame(pid: number, identity: Identity): boolean;
  /** Living processes carrying this supervisor's owner tag. */
  scan(): OwnedProcess[];
  signal(pid: number, signal: NodeJS.Signals): boolean;
  tail(file: string): string;
}

export function systemHost(clock: Clock, ownerTag: string): ProcessHost {
  const names = { owner: envNames.owner, instanceId: envNames.instanceId };
  const isSame = (pid: number, identity: Identity): boolean =>
    isSameProcess(pid, { ownerTag, id: identity.id, startTicks: identity.startTicks }, names);
  return {
    spawn: spawnDetached,
    watch: (pid, identity) => watchPid(clock, adoptedPollMs, () => isSame(pid, identity)),
    isSame,
    scan: () => scanOwned(envNames.owner, ownerTag),
    signal: signalGroup,
    tail: (file) => logTail(file, logTailBytesMax),
  };
}
