// The client against a real server, over each transport the server has (TCP; WebSocket with --ws).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, ErrorCode, SampanError, type Client, type Message } from "../src/index.js";
import { startServer, transports, channel, waitFor, sleep, type Server } from "./helpers.js";

const isCode = (code: number) => (e: unknown) => {
  assert.ok(e instanceof SampanError, `want a SampanError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  return true;
};

for (const tr of transports()) {
  describe(`client over ${tr}`, () => {
    let srv: Server;
    let c: Client;
    before(async () => {
      srv = await startServer();
      c = await connect({ servers: [srv.addr(tr)], name: `test-${tr}` });
    });
    after(async () => {
      await c?.close();
      await srv?.destroy();
    });

    it("connects and reads the server's limits", () => {
      assert.equal(c.status, "connected");
      assert.equal(c.server, srv.addr(tr));
      assert.equal(c.limits.v, 1);
      assert.ok(c.limits.maxPayload > 0 && c.limits.maxInflight > 0 && c.limits.maxFrame > c.limits.maxPayload);
    });

    it("publishes and gets increasing seqs; an idempotency key answers duplicate", async () => {
      const ch = channel("pub");
      const a1 = await c.publish(ch, "one");
      const a2 = await c.publish(ch, new Uint8Array([1, 2, 3]), { headers: { ct: "bytes" } });
      const a3 = await c.publish(ch, "three", { key: "k-3" });
      assert.deepEqual([a1.seq, a2.seq, a3.seq], [1, 2, 3]);
      const dup = await c.publish(ch, "three again", { key: "k-3" });
      assert.deepEqual(dup, { seq: 3, duplicate: true });
    });

    it("pipelines 2,000 publishes within maxInflight, acked in order", async () => {
      const p = await connect({ servers: [srv.addr(tr)], maxInflight: 64 });
      try {
        const ch = channel("pipe");
        const acks: Promise<{ seq: number }>[] = [];
        for (let i = 0; i < 2000; i++) acks.push(p.publish(ch, `m${i}`));
        assert.equal(p.inflight, 64, "64 in flight");
        assert.equal(p.waiting, 2000 - 64);
        let peak = 0;
        const timer = setInterval(() => (peak = Math.max(peak, p.inflight)), 1);
        const order: number[] = [];
        acks.forEach((a, i) => void a.then(() => order.push(i)));
        const got = await Promise.all(acks);
        clearInterval(timer);
        assert.deepEqual(got.map((a) => a.seq), Array.from({ length: 2000 }, (_, i) => i + 1));
        assert.deepEqual(order, Array.from({ length: 2000 }, (_, i) => i), "acks resolve in publish order");
        assert.ok(peak <= 64, `peak in flight ${peak}`);
        assert.equal(p.inflight, 0);
      } finally {
        await p.close();
      }
    });

    it("subscribes from earliest, latest/new, a seq and a time", async () => {
      const ch = channel("sub");
      for (let i = 1; i <= 10; i++) await c.publish(ch, `m${i}`, { headers: { i: String(i) } });
      await sleep(30);
      const t = new Date();
      await sleep(30);
      for (let i = 11; i <= 15; i++) await c.publish(ch, `m${i}`);
      const seen: Record<string, Message[]> = { earliest: [], latest: [], new: [], seq: [], time: [] };
      const subs = [
        await c.subscribe(ch, { start: "earliest" }, (m) => void seen.earliest!.push(m)),
        await c.subscribe(ch, { start: "latest" }, (m) => void seen.latest!.push(m)),
        await c.subscribe(ch, (m) => void seen.new!.push(m)),
        await c.subscribe(ch, { start: { seq: 7 } }, (m) => void seen.seq!.push(m)),
        await c.subscribe(ch, { start: { time: t } }, (m) => void seen.time!.push(m)),
      ];
      assert.equal(subs[0]!.startSeq, 1);
      assert.equal(subs[1]!.startSeq, 16);
      assert.equal(subs[3]!.startSeq, 7);
      assert.equal(subs[4]!.startSeq, 11);
      for (let i = 16; i <= 17; i++) await c.publish(ch, `m${i}`);
      const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
      await waitFor(() => seen.earliest!.length === 17 && seen.latest!.length === 2 && seen.new!.length === 2 && seen.seq!.length === 11 && seen.time!.length === 7, "deliveries");
      assert.deepEqual(seen.earliest!.map((m) => m.seq), range(1, 17));
      assert.deepEqual(seen.latest!.map((m) => m.seq), [16, 17]);
      assert.deepEqual(seen.new!.map((m) => m.seq), [16, 17]);
      assert.deepEqual(seen.seq!.map((m) => m.seq), range(7, 17));
      assert.deepEqual(seen.time!.map((m) => m.seq), range(11, 17));
      const m3 = seen.earliest![2]!;
      assert.equal(m3.channel, ch);
      assert.equal(m3.text(), "m3");
      assert.ok(m3.data instanceof Uint8Array);
      assert.deepEqual(m3.headers, { i: "3" });
      assert.ok(m3.time instanceof Date && Math.abs(m3.time.getTime() - Date.now()) < 60_000);
      assert.ok(seen.time![0]!.time.getTime() >= t.getTime());
      for (const s of subs) await s.unsubscribe();
    });

    it("returns credit as a slow handler consumes: many windows get through, one at a time", async () => {
      const ch = channel("credit");
      const n = 60;
      const got: number[] = [];
      let running = 0;
      let overlap = false;
      const sub = await c.subscribe(ch, { start: "earliest", window: 4 }, async (m) => {
        if (running++ > 0) overlap = true;
        await sleep(2);
        got.push(m.seq);
        running--;
      });
      assert.equal(sub.window, 4);
      await Promise.all(Array.from({ length: n }, (_, i) => c.publish(ch, `m${i}`)));
      await waitFor(() => got.length === n, `${n} messages through a window of 4`, 20_000);
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => i + 1));
      assert.equal(overlap, false, "the handler is never re-entered");
      assert.equal(sub.lastSeq, n);
      await sub.unsubscribe();
    });

    it("unsubscribe stops delivery and ends the subscription", async () => {
      const ch = channel("unsub");
      const got: number[] = [];
      const sub = await c.subscribe(ch, (m) => {
        got.push(m.seq);
        if (m.seq === 3) void sub.unsubscribe();
      });
      for (let i = 0; i < 6; i++) await c.publish(ch, "x");
      assert.equal(await sub.done, undefined);
      await sleep(50);
      assert.deepEqual(got, [1, 2, 3]);
    });

    it("rejects invalid channel names and oversize payloads before sending, typed", async () => {
      for (const bad of ["", "a..b", "a b", "orders.*", ".x", "x."]) {
        await assert.rejects(c.publish(bad, "x"), isCode(ErrorCode.InvalidChannel));
        await assert.rejects(c.subscribe(bad, () => {}), isCode(ErrorCode.InvalidChannel));
      }
      assert.equal(c.inflight + c.waiting, 0, "nothing was queued");
      const ch = channel("big");
      await assert.rejects(c.publish(ch, new Uint8Array(c.limits.maxPayload + 1)), isCode(ErrorCode.PayloadTooLarge));
      await assert.rejects(c.publish(ch, "x", { headers: { h: "v".repeat(c.limits.maxHeaders) } }), isCode(ErrorCode.InvalidArgument));
      await assert.rejects(c.subscribe(ch, { start: { seq: 0 } }, () => {}), isCode(ErrorCode.InvalidArgument));
      const e = await c.publish("a..b", "x").catch((x: unknown) => x);
      assert.ok(e instanceof SampanError && e.name === "SampanError" && e.codeName === "invalid_channel");
      // The largest payload allowed goes through.
      assert.equal((await c.publish(ch, new Uint8Array(c.limits.maxPayload))).seq, 1);
    });

    it("close rejects waiting publishes and later calls with closed", async () => {
      const p = await connect({ servers: [srv.addr(tr)], maxInflight: 1 });
      const ch = channel("close");
      const pending = Array.from({ length: 10 }, () => p.publish(ch, "x"));
      const results = Promise.allSettled(pending);
      await p.close();
      const rs = await results;
      assert.ok(rs.filter((r) => r.status === "rejected").length >= 9);
      for (const r of rs) if (r.status === "rejected") isCode(ErrorCode.Closed)(r.reason);
      await assert.rejects(p.publish(ch, "x"), isCode(ErrorCode.Closed));
      assert.equal(p.status, "closed");
      assert.equal(await p.done, undefined);
    });
  });
}

describe("connect", () => {
  it("fails with connection_lost when no server answers", async () => {
    const { freePort } = await import("./helpers.js");
    const port = await freePort();
    await assert.rejects(connect({ servers: [`127.0.0.1:${port}`, `tcp://127.0.0.1:${port}`] }), isCode(ErrorCode.ConnectionLost));
  });
  it("refuses a bad server address", async () => {
    await assert.rejects(connect({ servers: ["http://x:1"] }), isCode(ErrorCode.InvalidArgument));
    await assert.rejects(connect({ servers: [] }), isCode(ErrorCode.InvalidArgument));
  });
});
