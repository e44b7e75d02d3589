// tls:// servers: the client's TLS (node:tls) against a server with a certificate (a self-signed one,
// made with openssl; skipped where there is no openssl).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, ErrorCode, SampanError } from "../src/index.js";
import { startServer, channel, type Server } from "./helpers.js";

let certDir = "";
let noOpenssl: string | false = false;
try {
  certDir = mkdtempSync(join(tmpdir(), "sampan-tls-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", join(certDir, "key.pem"), "-out", join(certDir, "cert.pem")], { stdio: "ignore" });
} catch (e) {
  noOpenssl = `no openssl to make a certificate: ${String(e)}`;
}

describe("tls", { skip: noOpenssl }, () => {
  let srv: Server;
  before(async () => {
    srv = await startServer({ tls: { cert: join(certDir, "cert.pem"), key: join(certDir, "key.pem") } });
  });
  after(async () => {
    await srv?.destroy();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("publishes and subscribes over tls:// with the server's CA", async () => {
    const c = await connect({ servers: [`tls://localhost:${srv.ports.listen}`], tls: { ca: readFileSync(join(certDir, "cert.pem")) } });
    try {
      const ch = channel("tls");
      const got: string[] = [];
      await c.subscribe(ch, { start: "earliest" }, (m) => void got.push(m.text()));
      assert.equal((await c.publish(ch, "secret")).seq, 1);
      const deadline = Date.now() + 5000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, ["secret"]);
    } finally {
      await c.close();
    }
  });

  it("refuses a certificate it cannot verify, and plain TCP gets nowhere", async () => {
    await assert.rejects(connect({ servers: [`tls://localhost:${srv.ports.listen}`], dialTimeout: 2000 }), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.ConnectionLost);
    await assert.rejects(connect({ servers: [`127.0.0.1:${srv.ports.listen}`], dialTimeout: 2000 }), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.ConnectionLost);
  });
});
