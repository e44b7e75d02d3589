// WebSocket transport: each binary message carries exactly one frame, length prefix included, in both
// directions; a text message is a protocol error.
import { splitMessage } from "./protocol.js";
import { ErrorCode, SampanError } from "./errors.js";
import { lost, type DialOptions, type Transport, type WebSocketLike } from "./transport.js";

export async function dialWebSocket(url: string, opts: DialOptions): Promise<Transport> {
  const WS = opts.webSocket ?? (globalThis as { WebSocket?: DialOptions["webSocket"] }).WebSocket;
  if (!WS) {
    throw new SampanError(ErrorCode.InvalidArgument, "no WebSocket implementation: pass one as the webSocket option (Node.js 20 has one only with --experimental-websocket)");
  }
  let ws: WebSocketLike;
  try {
    ws = new WS(url);
  } catch (e) {
    throw lost(`connect ${url}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  ws.binaryType = "arraybuffer";
  const t = new WsTransport(ws, url, opts.maxFrame);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      t.close();
      reject(lost(`connect ${url}: timed out after ${opts.timeout} ms`));
    }, opts.timeout);
    t.opened = () => {
      clearTimeout(timer);
      resolve();
    };
    t.onClose = (err) => {
      clearTimeout(timer);
      reject(lost(`connect ${url}: ${err.message}`, err));
    };
  });
  t.onClose = () => {};
  return t;
}

class WsTransport implements Transport {
  onFrame: (type: number, body: Uint8Array) => void = () => {};
  onClose: (error: SampanError) => void = () => {};
  opened: () => void = () => {};
  private closed = false;
  private error: SampanError | undefined;

  constructor(
    private ws: WebSocketLike,
    private url: string,
    private maxFrame: number,
  ) {
    ws.addEventListener("open", () => this.opened());
    ws.addEventListener("message", (ev: { data: unknown }) => {
      if (this.closed) return;
      const d = ev.data;
      let bytes: Uint8Array;
      if (d instanceof ArrayBuffer) bytes = new Uint8Array(d);
      else if (ArrayBuffer.isView(d)) bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      else {
        this.fail(lost(`${url}: the server sent a ${typeof d === "string" ? "text" : "non-binary"} WebSocket message`));
        return;
      }
      let type: number, body: Uint8Array;
      try {
        [type, body] = splitMessage(bytes, this.maxFrame);
      } catch (e) {
        this.fail(lost(`${url}: ${e instanceof Error ? e.message : String(e)}`, e));
        return;
      }
      this.onFrame(type, body);
    });
    ws.addEventListener("error", (ev: { message?: string; error?: unknown }) => {
      this.error ??= lost(`${url}: WebSocket error${ev?.message ? ": " + ev.message : ""}`, ev?.error);
    });
    ws.addEventListener("close", (ev: { code?: number; reason?: string }) => {
      this.fail(this.error ?? lost(`${url}: WebSocket closed${ev?.code ? ` (${ev.code}${ev.reason ? " " + ev.reason : ""})` : ""}`));
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    try {
      this.ws.send(frame);
    } catch (e) {
      this.fail(lost(`${this.url}: send: ${e instanceof Error ? e.message : String(e)}`, e));
    }
  }

  setMaxFrame(n: number): void {
    this.maxFrame = n;
  }

  close(): void {
    this.fail(lost(`${this.url}: closed`));
  }

  private fail(err: SampanError): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws.close(1000);
    } catch {
      // already closing
    }
    this.onClose(err);
  }
}
