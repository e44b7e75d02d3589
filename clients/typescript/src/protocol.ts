// Frames of protocol/PROTOCOL.md: encoding of the client's frames, decoding of the server's, the
// stream reassembler, and channel name validation (§6).
import { Decoder, Encoder } from "@msgpack/msgpack";
import { ErrorCode, SampanError } from "./errors.js";

export const Version = 1;

export const FrameType = {
  Connect: 1,
  ConnAck: 2,
  Pub: 3,
  PubAck: 4,
  Sub: 5,
  SubAck: 6,
  Unsub: 7,
  UnsubAck: 8,
  Msg: 9,
  Ping: 10,
  Pong: 11,
  Err: 12,
  Credit: 13,
  Route: 14,
  Consume: 15,
  Ack: 16,
  Acked: 17,
} as const;

/** Defaults of §2, assumed until CONNACK says otherwise. */
export const Defaults = {
  maxFrame: 2 * 1024 * 1024,
  maxPayload: 1024 * 1024,
  maxHeaders: 65536,
  maxChannelLen: 255,
} as const;

/** Start kinds of SUB (§5.5). */
export const StartKind = { New: 0, Earliest: 1, Seq: 2, Time: 3 } as const;

export interface ConnAck {
  v: number;
  server: string;
  maxFrame: number;
  maxPayload: number;
  maxInflight: number;
  maxWindow: number;
  /** 0: not announced. */
  maxHeaders: number;
}

export type ServerFrame =
  | { t: typeof FrameType.ConnAck; f: ConnAck }
  | { t: typeof FrameType.PubAck; r: number; seq: number; dup: boolean }
  | { t: typeof FrameType.SubAck; s: number; startSeq: number; lastSeq: number; w: number }
  | { t: typeof FrameType.UnsubAck; s: number }
  | { t: typeof FrameType.Msg; s: number; c: string; seq: number; time: bigint; h: Record<string, string> | undefined; p: Uint8Array; a: number }
  | { t: typeof FrameType.Ping }
  | { t: typeof FrameType.Pong }
  | { t: typeof FrameType.Err; code: number; msg: string; r: number; s: number; fatal: boolean }
  | { t: typeof FrameType.Route; c: string; node: number; addr: string }
  | { t: typeof FrameType.Acked; r: number };

const isAlnum = new Uint8Array(128);
for (let i = 0; i < 128; i++) {
  const ch = String.fromCharCode(i);
  if (/[A-Za-z0-9_-]/.test(ch)) isAlnum[i] = 1;
}

/** Checks a channel name (§6); throws SampanError invalid_channel. */
export function validateChannel(name: string): void {
  if (typeof name !== "string" || name.length === 0) throw new SampanError(ErrorCode.InvalidChannel, "channel name is empty");
  // Only ASCII is valid, so a valid name has as many bytes as UTF-16 units.
  if (name.length > Defaults.maxChannelLen) {
    throw new SampanError(ErrorCode.InvalidChannel, `channel name is ${name.length} characters, max is ${Defaults.maxChannelLen} bytes`);
  }
  let tokenStart = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (i === tokenStart) throw new SampanError(ErrorCode.InvalidChannel, `channel name has an empty token at ${i} (leading, trailing or doubled '.')`);
      tokenStart = i + 1;
    } else if (c >= 128 || !isAlnum[c]) {
      throw new SampanError(ErrorCode.InvalidChannel, `channel name has invalid character ${JSON.stringify(name[i])} at ${i} (allowed: A-Z a-z 0-9 _ - and . between tokens)`);
    }
  }
  if (tokenStart === name.length) throw new SampanError(ErrorCode.InvalidChannel, `channel name has an empty token at ${name.length} (leading, trailing or doubled '.')`);
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const encoder = new Encoder({ ignoreUndefined: true, useBigInt64: true });

/** One frame: 4-byte big-endian length, type, msgpack body. Keys in the order of §5, zeros omitted by the caller. */
export function encodeFrame(type: number, body: Record<string, unknown>): Uint8Array {
  const b = encoder.encodeSharedRef(body);
  const out = new Uint8Array(5 + b.length);
  const n = b.length + 1;
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out[4] = type;
  out.set(b, 5);
  return out;
}

export interface ConnectFields {
  name?: string | undefined;
  routes?: boolean | undefined;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s ? s : undefined;
}

export function connectFrame(f: ConnectFields): Uint8Array {
  return encodeFrame(FrameType.Connect, {
    v: Version,
    name: nonEmpty(f.name),
    routes: f.routes ? true : undefined,
    user: nonEmpty(f.user),
    pass: nonEmpty(f.pass),
    token: nonEmpty(f.token),
  });
}

export function pubFrame(r: number, c: string, p: Uint8Array, h?: Record<string, string>, k?: string): Uint8Array {
  return encodeFrame(FrameType.Pub, {
    r,
    c,
    p,
    h: h && Object.keys(h).length > 0 ? h : undefined,
    k: nonEmpty(k),
  });
}

export function subFrame(s: number, c: string, start: number, seq: number, time: bigint, w: number): Uint8Array {
  return encodeFrame(FrameType.Sub, {
    s,
    c,
    start,
    seq: seq || undefined,
    time: time !== 0n ? time : undefined,
    w: w || undefined,
  });
}

export function unsubFrame(s: number): Uint8Array {
  return encodeFrame(FrameType.Unsub, { s });
}

export function creditFrame(s: number, n: number): Uint8Array {
  return encodeFrame(FrameType.Credit, { s, n });
}

export const pingFrame = (): Uint8Array => encodeFrame(FrameType.Ping, {});
export const pongFrame = (): Uint8Array => encodeFrame(FrameType.Pong, {});

// Decoding: any integer encoding is accepted; 64-bit ones come as bigint and are narrowed here.
const decoder = new Decoder({ useBigInt64: true });

class Malformed extends Error {}

function uint(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0) throw new Malformed("not an unsigned integer");
    return v;
  }
  if (typeof v === "bigint") {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed("integer out of range");
    return Number(v);
  }
  throw new Malformed("not an integer");
}

function int64(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw new Malformed("not an integer");
}

function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return textDecoder.decode(v);
  throw new Malformed("not a string");
}

function bin(v: unknown): Uint8Array {
  if (v === undefined || v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return textEncoder.encode(v);
  throw new Malformed("not bytes");
}

function bool(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === "boolean") return v;
  throw new Malformed("not a bool");
}

function headers(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || v instanceof Uint8Array || Array.isArray(v)) throw new Malformed("not a map");
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    out[k] = str(val);
    n++;
  }
  return n > 0 ? out : undefined;
}

/**
 * Decodes a server frame's body. Returns undefined for a frame type a client does not receive (ignored,
 * §4); throws SampanError malformed_frame (non-fatal) for a body that is not one valid map.
 */
export function decodeFrame(type: number, body: Uint8Array): ServerFrame | undefined {
  switch (type) {
    case FrameType.ConnAck:
    case FrameType.PubAck:
    case FrameType.SubAck:
    case FrameType.UnsubAck:
    case FrameType.Msg:
    case FrameType.Ping:
    case FrameType.Pong:
    case FrameType.Err:
    case FrameType.Route:
    case FrameType.Acked:
      break;
    default:
      return undefined;
  }
  let m: Record<string, unknown>;
  try {
    const v = decoder.decode(body);
    if (typeof v !== "object" || v === null || v instanceof Uint8Array || Array.isArray(v) || v instanceof Map) throw new Malformed("body is not a map");
    m = v as Record<string, unknown>;
    switch (type) {
      case FrameType.ConnAck:
        return {
          t: type,
          f: {
            v: uint(m.v),
            server: str(m.server),
            maxFrame: uint(m.max_frame),
            maxPayload: uint(m.max_payload),
            maxInflight: uint(m.max_inflight),
            maxWindow: uint(m.max_window),
            maxHeaders: uint(m.max_headers),
          },
        };
      case FrameType.PubAck:
        return { t: type, r: uint(m.r), seq: uint(m.seq), dup: bool(m.dup) };
      case FrameType.SubAck:
        return { t: type, s: uint(m.s), startSeq: uint(m.start_seq), lastSeq: uint(m.last_seq), w: uint(m.w) };
      case FrameType.UnsubAck:
        return { t: type, s: uint(m.s) };
      case FrameType.Msg:
        return { t: type, s: uint(m.s), c: str(m.c), seq: uint(m.seq), time: int64(m.t), h: headers(m.h), p: bin(m.p), a: uint(m.a) };
      case FrameType.Ping:
        return { t: type };
      case FrameType.Pong:
        return { t: type };
      case FrameType.Err:
        return { t: type, code: uint(m.code), msg: str(m.msg), r: uint(m.r), s: uint(m.s), fatal: bool(m.fatal) };
      case FrameType.Route:
        return { t: type, c: str(m.c), node: uint(m.node), addr: str(m.addr) };
      case FrameType.Acked:
        return { t: type, r: uint(m.r) };
    }
  } catch (e) {
    throw new SampanError(ErrorCode.MalformedFrame, `frame type ${type}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return undefined;
}

/**
 * Reassembles frames from a byte stream (TCP). push() returns the complete frames' [type, body] pairs;
 * it throws a fatal SampanError for a length over maxFrame or of 0, before allocating anything for it.
 */
export class FrameReader {
  private parts: Uint8Array[] = [];
  private have = 0;
  private need = 4; // bytes the buffered frame needs in all (4 until its length is known)
  maxFrame: number;

  constructor(maxFrame: number = Defaults.maxFrame) {
    this.maxFrame = maxFrame;
  }

  push(chunk: Uint8Array, onFrame: (type: number, body: Uint8Array) => void): void {
    let b: Uint8Array;
    if (this.parts.length === 0) b = chunk;
    else {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return; // a large frame arriving in pieces: copy it once, when complete
      b = new Uint8Array(this.have);
      let o = 0;
      for (const p of this.parts) {
        b.set(p, o);
        o += p.length;
      }
      this.parts = [];
      this.have = 0;
    }
    let off = 0;
    let need = 4;
    while (b.length - off >= 4) {
      const n = ((b[off]! << 24) >>> 0) + (b[off + 1]! << 16) + (b[off + 2]! << 8) + b[off + 3]!;
      if (n === 0) throw new SampanError(ErrorCode.MalformedFrame, "frame of length 0", { fatal: true });
      if (n > this.maxFrame) throw new SampanError(ErrorCode.FrameTooLarge, `frame of ${n} bytes, over the maximum ${this.maxFrame}`, { fatal: true });
      if (b.length - off - 4 < n) {
        need = 4 + n;
        break;
      }
      onFrame(b[off + 4]!, b.subarray(off + 5, off + 4 + n));
      off += 4 + n;
    }
    if (off < b.length) {
      // Keep the incomplete rest (a copy: the chunk's memory is the caller's).
      const rest = b.slice(off);
      this.parts = [rest];
      this.have = rest.length;
      this.need = need;
    } else this.need = 4;
  }
}

/**
 * Splits one WebSocket message, which carries exactly one frame with its length prefix; throws a fatal
 * SampanError if the message is anything else.
 */
export function splitMessage(msg: Uint8Array, maxFrame: number): [number, Uint8Array] {
  if (msg.length < 4) throw new SampanError(ErrorCode.MalformedFrame, `WebSocket message of ${msg.length} bytes is no frame`, { fatal: true });
  const n = ((msg[0]! << 24) >>> 0) + (msg[1]! << 16) + (msg[2]! << 8) + msg[3]!;
  if (n === 0) throw new SampanError(ErrorCode.MalformedFrame, "frame of length 0", { fatal: true });
  if (n > maxFrame) throw new SampanError(ErrorCode.FrameTooLarge, `frame of ${n} bytes, over the maximum ${maxFrame}`, { fatal: true });
  if (n !== msg.length - 4) throw new SampanError(ErrorCode.MalformedFrame, `WebSocket message of ${msg.length} bytes carries a frame of ${n + 4}: one message must be one frame`, { fatal: true });
  return [msg[4]!, msg.subarray(5)];
}
