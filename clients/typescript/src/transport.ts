// The connection under a session: frame bytes out, whole frames in, close. TCP (Node.js) and WebSocket
// (browsers and Node.js) implement it; everything above is shared.
import { ErrorCode, SampanError } from "./errors.js";

export interface Transport {
  /** Sends one whole frame (length prefix included). Never throws; a broken connection reports through onClose. */
  send(frame: Uint8Array): void;
  /** Closes the connection; onClose is called (once) if it was not yet. */
  close(): void;
  /** Frames larger than this are a fatal protocol error (set from CONNACK). */
  setMaxFrame(n: number): void;
  /** Set by the owner before any frame can arrive. */
  onFrame: (type: number, body: Uint8Array) => void;
  /** Called once, when the connection is gone (error says why). */
  onClose: (error: SampanError) => void;
}

/** The part of the standard WebSocket API the client uses (browsers', undici's in Node.js, the ws package's). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (ev: any) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A server list entry, parsed. */
export type ServerAddr = { kind: "tcp" | "tls"; host: string; port: number; text: string } | { kind: "ws"; url: string; text: string };

export function parseServer(s: string): ServerAddr {
  const text = s.trim();
  const lower = text.toLowerCase();
  if (lower.startsWith("ws://") || lower.startsWith("wss://")) return { kind: "ws", url: text, text };
  let kind: "tcp" | "tls" = "tcp";
  let hp = text;
  if (lower.startsWith("tcp://")) hp = text.slice(6);
  else if (lower.startsWith("tls://")) {
    kind = "tls";
    hp = text.slice(6);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//.test(lower)) {
    throw new SampanError(ErrorCode.InvalidArgument, `server ${JSON.stringify(text)}: unknown scheme (want host:port, tcp://, tls://, ws:// or wss://)`);
  }
  hp = hp.replace(/\/+$/, "");
  const i = hp.lastIndexOf(":");
  const port = Number(hp.slice(i + 1));
  let host = hp.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535 || host === "") {
    throw new SampanError(ErrorCode.InvalidArgument, `server ${JSON.stringify(text)}: want host:port`);
  }
  return { kind, host, port, text };
}

export interface DialOptions {
  timeout: number;
  webSocket?: WebSocketConstructor | undefined;
  /** Options for node:tls connect() (ca, cert, key, servername, rejectUnauthorized, ...). */
  tls?: Record<string, unknown> | undefined;
  maxFrame: number;
}

export async function dial(addr: ServerAddr, opts: DialOptions): Promise<Transport> {
  if (addr.kind === "ws") {
    const { dialWebSocket } = await import("./ws.js");
    return dialWebSocket(addr.url, opts);
  }
  const { dialTcp } = await import("./tcp.js");
  return dialTcp(addr.host, addr.port, addr.kind === "tls", opts);
}

export function lost(message: string, cause?: unknown): SampanError {
  return new SampanError(ErrorCode.ConnectionLost, message, cause !== undefined ? { cause } : undefined);
}
