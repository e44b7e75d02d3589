// npm run bench: a fresh local server (single node), then per transport (TCP; WebSocket when the
// server has --ws): N pipelined publishes of 128 B (msgs/s) and SEQ one-at-a-time publishes (ack
// latency p50/p99). N and SEQ come from the environment (defaults 20000 and 2000).
import { connect } from "../src/index.js";
import { startServer, transports } from "../test/helpers.js";

const N = Number(process.env.N ?? 20000);
const SEQ = Number(process.env.SEQ ?? 2000);
const payload = new Uint8Array(128).fill(0x61);

const srv = await startServer();
try {
  for (const tr of transports()) {
    const c = await connect({ servers: [srv.addr(tr)], name: `bench-${tr}` });
    const ch = `bench.${tr}.${process.pid}`;
    for (let i = 0; i < 200; i++) await c.publish(ch, payload); // warm up (channel created)
    let t0 = performance.now();
    const acks: Promise<unknown>[] = new Array(N);
    for (let i = 0; i < N; i++) acks[i] = c.publish(ch, payload);
    await Promise.all(acks);
    const secs = (performance.now() - t0) / 1000;
    const lat: number[] = new Array(SEQ);
    for (let i = 0; i < SEQ; i++) {
      t0 = performance.now();
      await c.publish(ch, payload);
      lat[i] = performance.now() - t0;
    }
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    console.log(
      `${tr.padEnd(3)}  pipelined: ${N} x 128 B in ${secs.toFixed(2)} s = ${Math.round(N / secs).toLocaleString("en-US")} msgs/s (max in flight ${c.limits.maxInflight < 1024 ? c.limits.maxInflight : 1024})` +
        `   one at a time: ${SEQ} acks p50 ${(q(0.5) * 1000).toFixed(0)} us, p99 ${(q(0.99) * 1000).toFixed(0)} us`,
    );
    await c.close();
  }
} finally {
  await srv.destroy();
}
