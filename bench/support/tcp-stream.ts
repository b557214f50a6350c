// A byte pump for the WAN benchmark: a sink that discards what it reads on --listen, and
// --connections sources that write 64 KiB chunks as fast as they may to --connect (the
// sink's own address, or a link proxy in front of it) for --seconds. Prints a progress
// line each second and one JSON result line: bytes the sink received per second.
//   node bench/support/tcp-stream.ts --listen H:P --connect H:P --seconds S --connections N
import { connect, createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    listen: { type: "string" },
    connect: { type: "string" },
    source: { type: "string", default: "127.0.0.1" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "4" },
  },
});
const hostPort = (text: string | undefined) => {
  const m = /^([\d.]+):(\d+)$/.exec(text ?? "");
  if (!m) throw new Error(`expected HOST:PORT, got ${text}`);
  return { host: m[1], port: Number(m[2]) };
};
const listen = hostPort(values.listen);
const target = hostPort(values.connect);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
let received = 0;
const sink = createServer((s) => {
  s.on("data", (d: Buffer) => {
    received += d.length;
  });
  s.on("error", () => {});
});
await new Promise<void>((resolve) => sink.listen(listen.port, listen.host, resolve));
const chunk = Buffer.alloc(64 * 1024, 0x61);
let stop = false;
const sockets = Array.from({ length: connections }, () => {
  const s = connect({ ...target, localAddress: values.source, noDelay: true });
  const pump = (): void => {
    while (!stop && s.write(chunk)) {}
  };
  s.on("connect", pump);
  s.on("drain", pump);
  s.on("error", (err) => {
    console.error(`source: ${err.message}`);
    process.exit(1);
  });
  return s;
});
const started = performance.now();
let last = 0;
const tick = setInterval(() => {
  const mb = (received - last) / 1e6;
  last = received;
  console.log(JSON.stringify({ event: "progress", mbPerS: Math.round(mb) }));
}, 1000);
await new Promise((r) => setTimeout(r, seconds * 1000));
stop = true;
clearInterval(tick);
const elapsedS = (performance.now() - started) / 1000;
console.log(JSON.stringify({ event: "result", bytes: received, bytesPerS: received / elapsedS }));
for (const s of sockets) s.destroy();
sink.close();
process.exit(0);
