// The committed browser bundle (web/console/lib/sampan-client.js) must be what `npm run bundle`
// makes from this source, and it must work: loaded as an ES module, over WebSocket.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { pkgDir, repoRoot, serverHasWebSocket, startServer, channel, waitFor, type Server } from "./helpers.js";

const committed = join(repoRoot, "web", "console", "lib", "sampan-client.js");

describe("browser bundle", () => {
  it("is up to date with the source (run `npm run bundle` and commit the result if this fails)", () => {
    const dir = mkdtempSync(join(tmpdir(), "sampan-bundle-"));
    try {
      const fresh = join(dir, "sampan-client.js");
      execFileSync(process.execPath, [join(pkgDir, "scripts", "bundle.mjs"), fresh], { stdio: "inherit" });
      assert.ok(readFileSync(committed, "utf8") === readFileSync(fresh, "utf8"), `${committed} differs from a fresh bundle: run npm run bundle in clients/typescript and commit it`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  let srv: Server | undefined;
  after(async () => {
    await srv?.destroy();
  });
  it("has no static imports, and publishes and subscribes over WebSocket", { skip: !serverHasWebSocket() || typeof globalThis.WebSocket !== "function" ? "needs sampan serve --ws and a global WebSocket" : false }, async () => {
    const text = readFileSync(committed, "utf8");
    assert.ok(!/(^|[;\n])\s*import\s*[{*\w]/.test(text), "a browser module with no static imports");
    const mod = await import(pathToFileURL(committed).href);
    srv = await startServer();
    const c = await mod.connect({ servers: [srv.wsUrl] });
    try {
      const ch = channel("bundle");
      const got: string[] = [];
      const sub = await c.subscribe(ch, { start: "earliest" }, (m: { text(): string }) => void got.push(m.text()));
      assert.equal((await c.publish(ch, "hello")).seq, 1);
      await waitFor(() => got.length === 1, "the message");
      assert.deepEqual(got, ["hello"]);
      const e = await c.publish("bad..name", "x").catch((x: unknown) => x);
      assert.ok(e instanceof mod.SampanError && e.code === mod.ErrorCode.InvalidChannel);
      await sub.unsubscribe();
    } finally {
      await c.close();
    }
  });
});
