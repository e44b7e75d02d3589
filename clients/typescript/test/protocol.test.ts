// Codec tests against the example bytes of protocol/PROTOCOL.md §10 (pinned by the Go tests too).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, connectFrame, pubFrame, decodeFrame, FrameReader, FrameType, splitMessage, validateChannel, subFrame } from "../src/protocol.js";
import { ErrorCode, SampanError } from "../src/index.js";

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

describe("codec", () => {
  it("encodes CONNECT as in §10", () => {
    assert.equal(toHex(connectFrame({ name: "demo" })), toHex(hex("00 00 00 0f 01 82 a1 76 01 a4 6e 61 6d 65 a4 64 65 6d 6f")));
  });
  it("encodes PUB as in §10", () => {
    const want = hex(`00 00 00 25 03 84 a1 72 01 a1 63 a9 6f 72 64 65
      72 73 2e 65 75 a1 70 c4 05 68 65 6c 6c 6f a1 68
      81 a2 63 74 a4 74 65 78 74`);
    assert.equal(toHex(pubFrame(1, "orders.eu", new TextEncoder().encode("hello"), { ct: "text" })), toHex(want));
  });
  it("omits zero fields of SUB and encodes 64-bit times", () => {
    const f = subFrame(1, "a", 3, 0, 1700000000123456789n, 0);
    const r = new FrameReader();
    let body: Uint8Array | undefined;
    r.push(f, (t, b) => {
      assert.equal(t, FrameType.Sub);
      body = b;
    });
    // fixmap of 4: s, c, start, time (int64 / uint64)
    assert.equal(body![0], 0x84);
    assert.ok(toHex(body!).includes("a4 74 69 6d 65 cf 17 97 9c fe 3d 85 cd 15"));
  });
  it("decodes PUBACK and MSG of §10", () => {
    const r = new FrameReader();
    const frames: [number, Uint8Array][] = [];
    const bytes = hex(`00 00 00 0a 04 82 a1 72 01 a3 73 65 71 2a
      00 00 00 25 09 86 a1 73 03 a1 63 a4 6a 6f 62 73
      a3 73 65 71 2a a1 74 cf 17 97 9c fe 3d 85 cd 15
      a1 70 c4 02 68 69 a1 61 02`);
    // Byte by byte: the reader must reassemble frames split anywhere.
    for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1), (t, b) => frames.push([t, b.slice()]));
    assert.equal(frames.length, 2);
    assert.deepEqual(decodeFrame(frames[0]![0], frames[0]![1]), { t: FrameType.PubAck, r: 1, seq: 42, dup: false });
    const m = decodeFrame(frames[1]![0], frames[1]![1]);
    assert.ok(m && m.t === FrameType.Msg);
    assert.equal(m.s, 3);
    assert.equal(m.c, "jobs");
    assert.equal(m.seq, 42);
    assert.equal(m.time, 1700000000123456789n);
    assert.equal(new TextDecoder().decode(m.p), "hi");
    assert.equal(m.a, 2);
  });
  it("ignores unknown keys, takes str for bin and nil for zero", () => {
    // {"r": 7, "x": [1, {"y": 1.5}], "seq": nil}
    const body = hex("83 a1 72 07 a1 78 92 01 81 a1 79 cb 3f f8 00 00 00 00 00 00 a3 73 65 71 c0");
    assert.deepEqual(decodeFrame(FrameType.PubAck, body), { t: FrameType.PubAck, r: 7, seq: 0, dup: false });
    // MSG with p as str
    const msg = decodeFrame(FrameType.Msg, hex("82 a1 73 01 a1 70 a2 68 69"));
    assert.ok(msg && msg.t === FrameType.Msg);
    assert.equal(new TextDecoder().decode(msg.p), "hi");
  });
  it("rejects malformed bodies as malformed_frame", () => {
    for (const b of [hex(""), hex("81 a1 72"), hex("80 80"), hex("81 a1 72 ff"), hex("91 01")]) {
      assert.throws(() => decodeFrame(FrameType.PubAck, b), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.MalformedFrame);
    }
    // A frame type the client does not receive is ignored.
    assert.equal(decodeFrame(FrameType.Pub, hex("80")), undefined);
  });
  it("refuses oversize and zero-length frames before reading them", () => {
    const r = new FrameReader(100);
    assert.throws(() => r.push(hex("00 00 00 65"), () => {}), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.FrameTooLarge && e.fatal);
    assert.throws(() => new FrameReader().push(hex("00 00 00 00"), () => {}), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.MalformedFrame);
  });
  it("splits one WebSocket message into exactly one frame", () => {
    const f = encodeFrame(FrameType.Ping, {});
    const [t, b] = splitMessage(f, 1 << 21);
    assert.equal(t, FrameType.Ping);
    assert.equal(toHex(b), "80");
    const two = new Uint8Array(f.length * 2);
    two.set(f);
    two.set(f, f.length);
    assert.throws(() => splitMessage(two, 1 << 21), SampanError);
    assert.throws(() => splitMessage(f.subarray(0, 3), 1 << 21), SampanError);
  });
});

describe("channel names (§6)", () => {
  it("accepts valid names", () => {
    for (const n of ["orders", "orders.eu.west-1", "a_b.C-9", "x".repeat(255)]) validateChannel(n);
  });
  it("rejects invalid names with invalid_channel", () => {
    for (const n of ["", ".a", "a.", "a..b", "a b", "a*", "a>", "é", "x".repeat(256), "a\u0000"]) {
      assert.throws(() => validateChannel(n), (e: unknown) => e instanceof SampanError && e.code === ErrorCode.InvalidChannel, n);
    }
  });
});
