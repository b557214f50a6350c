// cli: the `redshirt` command (up, store, gateway, dns, kv, planet, …).
export { type Command, commands } from "./commands.ts";
export { main } from "./main.ts";
