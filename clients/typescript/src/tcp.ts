// TCP and TLS transport, Node.js only (node:net and node:tls are imported when first used, so that a
// browser bundle never loads them).
import { FrameReader } from "./protocol.js";
import { SampanError } from "./errors.js";
import { lost, type DialOptions, type Transport } from "./transport.js";
import type { Socket } from "node:net";

export async function dialTcp(host: string, port: number, useTls: boolean, opts: DialOptions): Promise<Transport> {
  const addr = `${host}:${port}`;
  let sock: Socket;
  if (useTls) {
    const tls = await import("node:tls");
    sock = tls.connect({ host, port, servername: /^[0-9.:]+$/.test(host) ? undefined : host, minVersion: "TLSv1.2", ...(opts.tls ?? {}) });
  } else {
    const net = await import("node:net");
    sock = net.connect({ host, port, noDelay: true });
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(lost(`connect ${addr}: timed out after ${opts.timeout} ms`));
    }, opts.timeout);
    const onError = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(lost(`connect ${addr}: ${e.message}`, e));
    };
    sock.once("error", onError);
    sock.once(useTls ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      sock.off("error", onError);
      resolve();
    });
  });
  return new TcpTransport(sock, addr, opts.maxFrame);
}

class TcpTransport implements Transport {
  onFrame: (type: number, body: Uint8Array) => void = () => {};
  onClose: (error: SampanError) => void = () => {};
  private reader: FrameReader;
  private closed = false;
  private corked = false;
  private error: SampanError | undefined;

  constructor(
    private sock: Socket,
    private addr: string,
    maxFrame: number,
  ) {
    sock.setNoDelay(true);
    this.reader = new FrameReader(maxFrame);
    sock.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.reader.push(chunk, (t, b) => {
          if (!this.closed) this.onFrame(t, b);
        });
      } catch (e) {
        this.fail(e instanceof SampanError ? lost(`${addr}: ${e.message}`, e) : lost(`${addr}: ${String(e)}`, e));
      }
    });
    sock.on("error", (e) => {
      this.error ??= lost(`${addr}: ${e.message}`, e);
    });
    sock.on("close", () => this.fail(this.error ?? lost(`${addr}: connection closed by the server`)));
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    // Frames sent in one turn of the event loop go out in one write.
    if (!this.corked) {
      this.corked = true;
      this.sock.cork();
      queueMicrotask(() => {
        this.corked = false;
        this.sock.uncork();
      });
    }
    this.sock.write(frame);
  }

  setMaxFrame(n: number): void {
    this.reader.maxFrame = n;
  }

  close(): void {
    this.fail(lost(`${this.addr}: closed`));
  }

  private fail(err: SampanError): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.onClose(err);
  }
}
