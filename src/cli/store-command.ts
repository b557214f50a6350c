// `redshirt store --planet FILE --node ID [--data-dir DIR] [--join]`: runs one store node (a
// node added with `store join`, not in the planet file, runs with --join); `redshirt store
// join|leave|replace|members` changes membership (store-membership-command.ts). Prints
// one `{"event":"ready",…}` line once it serves, logs JSON lines on stderr, and on SIGTERM
// or SIGINT stops taking requests, finishes or fails the ones in flight, and closes its
// data file. A second signal, or a stop that hangs, ends the process at once: nothing
// acknowledged depends on a clean exit (every ack follows a commit).
import { startStoreNode, storeConstants } from "../store/index.ts";
import { loadPlanet, storeNode } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";
import { membershipVerbs, runMembership } from "./store-membership-command.ts";

export async function run(args: string[]): Promise<number> {
  if ((membershipVerbs as readonly string[]).includes(args[0] ?? "")) return runMembership(args[0], args.slice(1));
  const { values, positionals } = parseCommandArgs("store", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    node: { type: "string" },
    "data-dir": { type: "string" },
    join: { type: "boolean", default: false },
  });
  if (positionals.length > 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `store: takes no arguments (got ${JSON.stringify(positionals[0])})`);
  }
  if (!values.node) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      "store: --node ID is missing (a store node of the planet, e.g. nyc-store1)",
    );
  }
  const planet = loadPlanet(values.planet);
  // A node outside the planet file must say it was added by `store join`: a typo in --node
  // is then an error, not a stranger that every peer refuses.
  if (!values.join) storeNode(planet, values.node);
  const node = await startStoreNode({ planet, nodeId: values.node, dataDir: values["data-dir"] });
  process.stdout.write(
    `${JSON.stringify({ event: "ready", node: node.nodeId, site: node.site, http: node.url, peer: `${node.peer.host}:${node.peer.port}`, data: node.dataFile })}\n`,
  );
  await new Promise<void>((done) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) process.exit(130);
      signalled = true;
      setTimeout(() => {
        process.stderr.write(
          `redshirt store: ${node.nodeId} did not stop within ${storeConstants.storeStopMsMax} ms after ${signal}\n`,
        );
        process.exit(1);
      }, storeConstants.storeStopMsMax).unref();
      node.stop().then(done, (err) => {
        process.stderr.write(`redshirt store: stopping ${node.nodeId} failed: ${err?.stack ?? err}\n`);
        process.exit(1);
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return 0;
}
