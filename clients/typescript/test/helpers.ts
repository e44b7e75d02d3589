// Test helpers: build the sampan binary (once: go build leaves an up-to-date binary alone), run
// `sampan serve` on a temp data dir and free ports, wait for /readyz, stop it.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** clients/typescript (this file is dist/test/helpers.js there). */
export const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const repoRoot = resolve(pkgDir, "..", "..");

let binary: string | undefined;

/** Path of a sampan binary built from this checkout (SAMPAN_BIN overrides). */
export function sampanBinary(): string {
  if (binary) return binary;
  if (process.env.SAMPAN_BIN) return (binary = process.env.SAMPAN_BIN);
  const dir = join(tmpdir(), "sampan-ts-client-test");
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "sampan");
  execFileSync("go", ["build", "-o", out, "./cmd/sampan"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"], timeout: 300_000 });
  return (binary = out);
}

let wsSupport: boolean | undefined;

/** Whether this checkout's server has the WebSocket listener (serve --ws). */
export function serverHasWebSocket(): boolean {
  if (wsSupport === undefined) {
    const help = execFileSync(sampanBinary(), ["serve", "--help"], { encoding: "utf8" });
    wsSupport = /--ws\b/.test(help);
  }
  return wsSupport;
}

/** The transports to run the client tests over: TCP, and WebSocket when the server has it. */
export function transports(): ("tcp" | "ws")[] {
  return serverHasWebSocket() ? ["tcp", "ws"] : ["tcp"];
}

/** A free port below Linux's ephemeral range (32768+), so outgoing connections do not take it before the server binds it. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once("error", () => res(false));
      s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
    });
    if (ok) return port;
  }
}

export interface ServerOptions {
  /** PEM files of a certificate and key: the client (and HTTP) listeners speak TLS. */
  tls?: { cert: string; key: string };
  /** YAML config file contents (passed with --config). */
  config?: string;
  /** Reuse the data dir and ports of an earlier server (a restart). */
  like?: Server;
}

export class Server {
  proc: ChildProcess | undefined;
  exited: Promise<number | null> = Promise.resolve(null);
  constructor(
    readonly dir: string,
    readonly ports: { listen: number; http: number; raft: number; ws: number },
    readonly configPath: string | undefined,
    readonly tls?: { cert: string; key: string },
  ) {}

  get tcpAddr(): string {
    return `127.0.0.1:${this.ports.listen}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.ports.ws}`;
  }
  /** The server address for a transport. */
  addr(t: "tcp" | "ws"): string {
    return t === "ws" ? this.wsUrl : this.tcpAddr;
  }
  get logPath(): string {
    return join(this.dir, "server.log");
  }
  log(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  async start(): Promise<void> {
    const args = [
      "serve",
      "--data", join(this.dir, "data"),
      "--listen", this.tcpAddr,
      "--http", `127.0.0.1:${this.ports.http}`,
      "--raft", `127.0.0.1:${this.ports.raft}`,
      "--log-level", "warn",
      "--log-json",
    ];
    if (this.configPath) args.push("--config", this.configPath);
    if (this.tls) args.push("--tls-cert", this.tls.cert, "--tls-key", this.tls.key);
    if (serverHasWebSocket()) args.push("--ws", `127.0.0.1:${this.ports.ws}`);
    const fd = openSync(this.logPath, "a");
    const proc = spawn(sampanBinary(), args, { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    this.proc = proc;
    this.exited = new Promise((r) => proc.once("exit", (code) => r(code)));
    let gone = false;
    void this.exited.then(() => (gone = true));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (gone) throw new Error(`sampan serve exited before it was ready:\n${this.log()}`);
      try {
        if ((await this.readyz()) === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`sampan serve not ready within 30 s:\n${this.log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** GET /readyz (over https with a TLS server; its certificate is not checked: this only asks whether it is up). */
  private async readyz(): Promise<number> {
    if (!this.tls) {
      const r = await fetch(`http://127.0.0.1:${this.ports.http}/readyz`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return r.status;
    }
    const https = await import("node:https");
    return await new Promise((res, rej) => {
      const req = https.get({ host: "127.0.0.1", port: this.ports.http, path: "/readyz", rejectUnauthorized: false, timeout: 1000 }, (r) => {
        r.resume();
        res(r.statusCode ?? 0);
      });
      req.on("error", rej);
      req.on("timeout", () => req.destroy(new Error("timeout")));
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within the deadline. */
  async stop(deadlineMs = 15_000): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), deadlineMs);
    await this.exited;
    clearTimeout(t);
    this.proc = undefined;
  }

  /** Stops the server and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    if (process.env.SAMPAN_TEST_KEEP) {
      console.log(`# kept ${this.dir}`);
      return;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a server on a new temp dir and free ports (or, with like, on the same ones: a restart). */
export async function startServer(o: ServerOptions = {}): Promise<Server> {
  let s: Server;
  if (o.like) s = new Server(o.like.dir, o.like.ports, o.like.configPath, o.like.tls);
  else {
    const dir = mkdtempSync(join(tmpdir(), "sampan-ts-"));
    let configPath: string | undefined;
    if (o.config) {
      configPath = join(dir, "sampan.yaml");
      writeFileSync(configPath, o.config);
    }
    // A port found free may still be taken before the server binds it: then again on new ports.
    for (let attempt = 1; ; attempt++) {
      s = new Server(dir, { listen: await freePort(), http: await freePort(), raft: await freePort(), ws: await freePort() }, configPath, o.tls);
      try {
        await s.start();
        return s;
      } catch (e) {
        if (attempt >= 3 || !/address already in use/.test(String(e))) throw e;
        rmSync(join(dir, "data"), { recursive: true, force: true });
      }
    }
  }
  await s.start();
  return s;
}

/** Resolves when cond() holds, polling; rejects after timeoutMs with what. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let uniq = 0;
/** A channel name not used before in this process. */
export function channel(prefix: string): string {
  return `${prefix}.${process.pid}-${++uniq}`;
}
