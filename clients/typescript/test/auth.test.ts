// Login (CONNECT user/pass or token) against a server with users, and per-user permissions.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { connect, ErrorCode, SampanError } from "../src/index.js";
import { sampanBinary, startServer, transports, channel, type Server } from "./helpers.js";

const hash = (secret: string) => execFileSync(sampanBinary(), ["passwd"], { input: secret + "\n", encoding: "utf8" }).trim();
const isCode = (code: number) => (e: unknown) => e instanceof SampanError && e.code === code;

describe("auth", () => {
  let srv: Server;
  before(async () => {
    srv = await startServer({
      config: `auth:
  users:
    - name: alice
      password: "${hash("alice-secret")}"
      publish: {allow: ["open.>"]}
    - name: reader
      token: "${hash("reader-token")}"
      publish: {deny: [">"]}
`,
    });
  });
  after(async () => {
    await srv?.destroy();
  });

  for (const tr of transports()) {
    it(`logs in with user and password, or a token, over ${tr}; permissions are typed errors`, async () => {
      const alice = await connect({ servers: [srv.addr(tr)], user: "alice", password: "alice-secret" });
      try {
        assert.ok((await alice.publish(channel("open"), "hi")).seq >= 1);
        await assert.rejects(alice.publish(channel("closed"), "hi"), isCode(ErrorCode.PermissionDenied));
        // The connection stays usable after a denial.
        assert.ok((await alice.publish(channel("open"), "again")).seq >= 1);
      } finally {
        await alice.close();
      }
      const reader = await connect({ servers: [srv.addr(tr)], token: "reader-token" });
      try {
        await assert.rejects(reader.publish(channel("open"), "hi"), isCode(ErrorCode.PermissionDenied));
        const sub = await reader.subscribe(channel("open"), () => {});
        await sub.unsubscribe();
      } finally {
        await reader.close();
      }
    });

    it(`refuses wrong or missing credentials with auth_failed over ${tr}`, async () => {
      await assert.rejects(connect({ servers: [srv.addr(tr)], user: "alice", password: "wrong" }), isCode(ErrorCode.AuthFailed));
      await assert.rejects(connect({ servers: [srv.addr(tr)] }), isCode(ErrorCode.AuthFailed));
    });
  }
});
