// Reconnect across a server restart (same data dir and ports): subscriptions resume after the last
// message received, with no gap and no duplicate; publishes in flight when the connection broke fail
// with a typed error; those made while reconnecting wait and go out on the new connection.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { connect, ErrorCode, SampanError, type Client, type SampanError as SE } from "../src/index.js";
import { startServer, transports, channel, waitFor, sleep, type Server } from "./helpers.js";

for (const tr of transports()) {
  describe(`reconnect over ${tr}`, () => {
    const servers: Server[] = [];
    const clients: Client[] = [];
    after(async () => {
      for (const c of clients) await c.close();
      for (const s of servers) await s.destroy();
    });

    it("resumes every subscription across a restart: each seq exactly once, in order", async () => {
      const srv = await startServer();
      servers.push(srv);
      const pub = await connect({ servers: [srv.addr(tr)], reconnectFor: 60_000 });
      const subc = await connect({ servers: [srv.addr(tr)], reconnectFor: 60_000 });
      clients.push(pub, subc);
      const events: string[] = [];
      subc.on("disconnect", (e) => events.push(`disconnect:${e.codeName}`));
      subc.on("reconnect", () => events.push("reconnect"));

      const ch = channel("resume");
      const seqs: number[] = [];
      const live: number[] = [];
      // A slowish handler with a small window, so messages are queued and in flight when the server goes.
      const sub = await subc.subscribe(ch, { start: "earliest", window: 16 }, async (m) => {
        seqs.push(m.seq);
        if (m.seq % 50 === 0) await sleep(1);
      });
      const liveSub = await subc.subscribe(ch, { start: "new" }, (m) => void live.push(m.seq));

      const N = 300;
      const first = await Promise.all(Array.from({ length: N }, (_, i) => pub.publish(ch, `a${i}`)));
      assert.equal(first.at(-1)!.seq, N);
      await waitFor(() => seqs.length >= 100, "some deliveries before the restart");

      await srv.stop(); // SIGTERM
      await waitFor(() => pub.status === "reconnecting" && subc.status === "reconnecting", "both clients noticing");
      // Published while reconnecting: waits for the connection.
      const during = pub.publish(ch, "during");
      await sleep(200);
      await srv.start();

      const duringAck = await during;
      assert.equal(duringAck.seq, N + 1);
      const second = await Promise.all(Array.from({ length: N }, (_, i) => pub.publish(ch, `b${i}`)));
      assert.equal(second.at(-1)!.seq, 2 * N + 1);
      const total = 2 * N + 1;
      await waitFor(() => seqs.length >= total && live.length >= total, `${total} deliveries`, 30_000);
      await sleep(100); // any duplicate would have arrived by now
      assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1));
      assert.deepEqual(live, Array.from({ length: total }, (_, i) => i + 1));
      assert.ok(events.includes("reconnect"), `events ${events.join(",")}`);
      assert.ok(events[0]?.startsWith("disconnect:"));
      assert.equal(subc.status, "connected");
      await sub.unsubscribe();
      await liveSub.unsubscribe();
    });

    it("publishes in flight when the connection breaks reject typed; acked ones are stored", async () => {
      const srv = await startServer();
      servers.push(srv);
      const pub = await connect({ servers: [srv.addr(tr)], reconnectFor: 60_000 });
      clients.push(pub);
      const ch = channel("inflight");
      const n = 3000;
      const rs = Array.from({ length: n }, (_, i) => pub.publish(ch, `m${i}`));
      const all = Promise.allSettled(rs); // handled from the start: some reject while the server is down
      await waitFor(() => pub.inflight < 1024 || pub.waiting < n - 1024, "some acks"); // some answered, many in flight
      await srv.stop();
      await waitFor(() => pub.inflight === 0, "the in-flight ones settled once the connection is gone");
      await srv.start(); // those not sent yet go out on the new connection
      const settled = await all;
      const acked = settled.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<{ seq: number }>).value.seq);
      const failed = settled.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason as SE);
      for (const e of failed) {
        assert.ok(e instanceof SampanError, String(e));
        assert.ok([ErrorCode.ConnectionLost, ErrorCode.ShuttingDown, ErrorCode.Unavailable].includes(e.code as 1000), e.message);
      }
      assert.ok(acked.length > 0, "some were acked");
      for (let i = 1; i < acked.length; i++) assert.ok(acked[i]! > acked[i - 1]!, "acks of one channel in publish order");
      // Every acked message is there after the restart.
      const got: number[] = [];
      const c2 = await connect({ servers: [srv.addr(tr)] });
      clients.push(c2);
      await c2.subscribe(ch, { start: "earliest" }, (m) => void got.push(m.seq));
      const after = await pub.publish(ch, "after");
      assert.ok(after.seq > acked.at(-1)!);
      await waitFor(() => got.includes(after.seq), "the publish after the restart");
      const stored = new Set(got);
      for (const s of acked) assert.ok(stored.has(s), `acked seq ${s} stored`);
      console.log(`# in-flight test: ${acked.length} acked, ${failed.length} failed (${[...new Set(failed.map((e) => e.codeName))].join(", ")})`);
    });

    it("without reconnect, the client ends when the connection breaks", async () => {
      const srv = await startServer();
      servers.push(srv);
      const c = await connect({ servers: [srv.addr(tr)], reconnect: false });
      clients.push(c);
      const sub = await c.subscribe(channel("noreconnect"), () => {});
      await srv.stop();
      const why = await c.done;
      assert.ok(why instanceof SampanError && why.code === ErrorCode.ConnectionLost, String(why));
      assert.equal(c.status, "closed");
      const subWhy = await sub.done;
      assert.ok(subWhy instanceof SampanError);
      await assert.rejects(c.publish("x", "y"), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.Closed);
    });

    it("gives up after reconnectFor with connection_lost", async () => {
      const srv = await startServer();
      servers.push(srv);
      const c = await connect({ servers: [srv.addr(tr)], reconnectFor: 500 });
      clients.push(c);
      await srv.stop();
      const t0 = Date.now();
      const p = c.publish(channel("giveup"), "x");
      const why = await c.done;
      assert.ok(why instanceof SampanError && why.code === ErrorCode.ConnectionLost, String(why));
      assert.ok(Date.now() - t0 < 5000);
      await assert.rejects(p, (e: unknown) => e instanceof SampanError && e.code === ErrorCode.ConnectionLost);
    });
  });
}
