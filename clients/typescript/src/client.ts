// The client: one connection at a time to a server of its list, pipelined publishes, subscriptions
// with credit-based flow control, and reconnection that resumes every subscription after the last
// message it received (no gap, no duplicate), as the Go client (client/) does.
import { ErrorCode, SampanError } from "./errors.js";
import {
  connectFrame,
  creditFrame,
  decodeFrame,
  Defaults,
  FrameType,
  pingFrame,
  pongFrame,
  pubFrame,
  StartKind,
  subFrame,
  unsubFrame,
  utf8,
  utf8Length,
  validateChannel,
  type ConnAck,
  type ServerFrame,
} from "./protocol.js";
import { dial, lost, parseServer, type ServerAddr, type Transport, type WebSocketConstructor } from "./transport.js";

export interface ConnectOptions {
  /** Servers to use, in order: "host:port" or "tcp://host:port" (TCP, Node.js), "tls://host:port" (TLS, Node.js), "ws://..." or "wss://..." (WebSocket). A string may list several, comma-separated. */
  servers: string[] | string;
  user?: string;
  password?: string;
  token?: string;
  /** Connection name, shown in server logs. */
  name?: string;
  /** Reconnect when the connection breaks (default true). */
  reconnect?: boolean;
  /** How long to keep trying to reconnect before the client ends, in ms (default 120000). */
  reconnectFor?: number;
  /** Most publishes in flight (sent, unanswered); the server's max_inflight caps it. Default 1024. */
  maxInflight?: number;
  /** WebSocket constructor for ws:// servers (default globalThis.WebSocket). */
  webSocket?: WebSocketConstructor;
  /** Options passed to node:tls connect() for tls:// servers (ca, cert, key, servername, ...). */
  tls?: Record<string, unknown>;
  /** Bound of each connection attempt (connect and handshake), ms. Default 5000. */
  dialTimeout?: number;
  /** Send PING after this long without a frame from the server, and drop the connection after twice as long (ms; default 30000, 0: never). */
  pingInterval?: number;
}

export interface PublishOptions {
  headers?: Record<string, string>;
  /** Idempotency key: a repeat within the channel's dedupe window is answered with the first one's seq (duplicate: true). */
  key?: string;
}

export interface PubAck {
  /** The message's seq in its channel. */
  seq: number;
  /** The key was seen before: seq is the first publish's and nothing was stored. */
  duplicate: boolean;
}

export type Start = "earliest" | "latest" | "new" | { seq: number } | { time: Date | number };

export interface SubscribeOptions {
  /** Where to start: "new"/"latest" (default: messages stored after the subscription opens), "earliest", { seq }, { time }. */
  start?: Start;
  /** Most messages the server sends before the handler has consumed them (0/absent: server default). */
  window?: number;
}

/** A message delivered to a subscription. */
export class Message {
  constructor(
    readonly channel: string,
    readonly seq: number,
    /** Store timestamp in unix nanoseconds. */
    readonly timeNanos: bigint,
    readonly headers: Record<string, string>,
    readonly data: Uint8Array,
  ) {}

  /** Store timestamp (millisecond precision). */
  get time(): Date {
    return new Date(Number(this.timeNanos / 1000000n));
  }

  /** The payload as UTF-8 text. */
  text(): string {
    return new TextDecoder().decode(this.data);
  }
}

export type Handler = (m: Message) => void | Promise<unknown>;

export type Status = "connected" | "reconnecting" | "closed";

export interface ClientEvents {
  /** The connection broke; the client reconnects (if it may). */
  disconnect: (error: SampanError) => void;
  /** Connected again, to server; subscriptions are being resumed. */
  reconnect: (server: string) => void;
  /** The client ended for good (close(): undefined). */
  close: (error: SampanError | undefined) => void;
  /** A server error not tied to a request, or a subscription handler that threw. */
  error: (error: unknown) => void;
  /** Any change of status. */
  status: (status: Status) => void;
}

interface PendingPub {
  channel: string;
  payload: Uint8Array;
  headers: Record<string, string> | undefined;
  key: string | undefined;
  resolve: (a: PubAck) => void;
  reject: (e: SampanError) => void;
}

/** FIFO with O(1) shift. */
class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}

/** One connection to a server, after its handshake. */
class Link {
  dead = false;
  lastRecv = Date.now();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly t: Transport,
    readonly addr: string,
    readonly ack: ConnAck,
  ) {}

  send(frame: Uint8Array): boolean {
    if (this.dead) return false;
    this.t.send(frame);
    return true;
  }

  startPings(interval: number, onTimeout: () => void): void {
    if (interval <= 0) return;
    this.timer = setInterval(() => {
      const idle = Date.now() - this.lastRecv;
      if (idle >= 2 * interval) onTimeout();
      else if (idle >= interval) this.send(pingFrame());
    }, interval / 2);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    this.dead = true;
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}

function normalizeStart(start: Start | undefined): { kind: number; seq: number; time: bigint } {
  if (start === undefined || start === "new" || start === "latest") return { kind: StartKind.New, seq: 0, time: 0n };
  if (start === "earliest") return { kind: StartKind.Earliest, seq: 0, time: 0n };
  if (typeof start === "object" && "seq" in start) {
    if (!Number.isSafeInteger(start.seq) || start.seq < 1) throw new SampanError(ErrorCode.InvalidArgument, "start seq must be an integer >= 1");
    return { kind: StartKind.Seq, seq: start.seq, time: 0n };
  }
  if (typeof start === "object" && "time" in start) {
    const ms = start.time instanceof Date ? start.time.getTime() : start.time;
    if (!Number.isFinite(ms)) throw new SampanError(ErrorCode.InvalidArgument, "start time is not a valid date");
    return { kind: StartKind.Time, seq: 0, time: BigInt(Math.trunc(ms)) * 1000000n };
  }
  throw new SampanError(ErrorCode.InvalidArgument, `start ${JSON.stringify(start)}: want "earliest", "latest", "new", { seq } or { time }`);
}

/** An active subscription. */
export class Subscription {
  /** Seq of the last message whose handler finished (0 before the first). */
  lastSeq = 0;
  /** First seq the server said it would deliver (SUBACK). */
  startSeq = 0;
  /** Effective window (SUBACK). */
  window = 0;
  /** Resolves when the subscription has ended: undefined after unsubscribe(), else why (server error, client closed). */
  readonly done: Promise<SampanError | undefined>;

  /** @internal */ link: Link | null = null;
  /** @internal */ acked = false;
  /** @internal */ stopped = false; // unsubscribe() called: no more handler calls
  /** @internal */ ended = false;
  /** @internal */ onAck: ((e?: SampanError) => void) | undefined;
  private resolveDone!: (e: SampanError | undefined) => void;
  private endErr: SampanError | undefined;
  private queue = new Queue<{ m: Message; link: Link }>();
  private queued = 0; // highest seq queued: at or below it (a resumption's overlap) is dropped
  private running = false;
  private credit = 0;
  private creditLink: Link | null = null;
  private unsubWaiters: (() => void)[] = [];

  /** @internal */
  constructor(
    private readonly client: Client,
    /** @internal */ readonly sid: number,
    readonly channel: string,
    private readonly start: { kind: number; seq: number; time: bigint },
    private readonly win: number,
    private readonly handler: Handler,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** @internal The SUB that opens (or resumes) it: after the last message received, else where the server first said it would start, else the asked start. */
  resumeFrame(): Uint8Array {
    if (this.queued > 0) return subFrame(this.sid, this.channel, StartKind.Seq, this.queued + 1, 0n, this.win);
    if (this.acked && this.startSeq > 0) return subFrame(this.sid, this.channel, StartKind.Seq, this.startSeq, 0n, this.win);
    return subFrame(this.sid, this.channel, this.start.kind, this.start.seq, this.start.time, this.win);
  }

  /** @internal */
  gotAck(startSeq: number, w: number): void {
    if (!this.acked) {
      this.acked = true;
      this.startSeq = startSeq;
      this.window = w;
    }
    const f = this.onAck;
    this.onAck = undefined;
    f?.();
  }

  /** @internal */
  deliver(seq: number, m: Message, link: Link): void {
    if (seq <= this.queued) {
      // A duplicate: it still took a window slot on its connection.
      if (link === this.link) link.send(creditFrame(this.sid, 1));
      return;
    }
    this.queued = seq;
    this.queue.push({ m, link });
    if (!this.running) {
      this.running = true;
      queueMicrotask(() => void this.run());
    }
  }

  private async run(): Promise<void> {
    const batch = Math.max(1, Math.floor(this.window / 4));
    for (;;) {
      if (this.stopped) break;
      const item = this.queue.shift();
      if (!item) break;
      if (item.link !== this.creditLink) {
        this.giveCredit();
        this.creditLink = item.link;
      }
      try {
        const r = this.handler(item.m);
        if (r && typeof (r as Promise<unknown>).then === "function") await r;
      } catch (e) {
        this.client.emit("error", e);
      }
      this.lastSeq = item.m.seq;
      if (++this.credit >= batch) this.giveCredit();
    }
    this.giveCredit(); // caught up: let the server send more right away
    this.running = false;
    if (this.ended) this.resolveDone(this.endErr);
  }

  // Credit goes back on the connection the messages came on, and only while it is still this
  // subscription's: on a new connection the resumed SUB has a fresh window.
  private giveCredit(): void {
    if (this.credit > 0 && this.creditLink && this.creditLink === this.link && !this.stopped) {
      this.creditLink.send(creditFrame(this.sid, this.credit));
    }
    this.credit = 0;
  }

  /** @internal */
  end(err: SampanError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.endErr = err;
    if (!this.acked) {
      const f = this.onAck;
      this.onAck = undefined;
      f?.(err ?? new SampanError(ErrorCode.Closed, "subscription ended before the server confirmed it"));
    }
    for (const w of this.unsubWaiters.splice(0)) w();
    if (err && this.acked && !this.stopped && err.code !== ErrorCode.Closed) this.client.emit("error", err);
    if (!this.running || this.stopped) this.resolveDone(err);
  }

  /** Stops delivery at once (the handler gets no further message) and resolves when the server confirmed. Safe to call from the handler and more than once. */
  async unsubscribe(): Promise<void> {
    this.stopped = true;
    if (this.ended) return;
    const wait = new Promise<void>((r) => this.unsubWaiters.push(r));
    this.client.unsub(this);
    await wait;
  }
}

/** A client of a Sampan server (or cluster): see connect(). */
export class Client {
  /** What the current (or last) server announced in CONNACK. */
  limits: ConnAck = { v: 1, server: "", maxFrame: Defaults.maxFrame, maxPayload: Defaults.maxPayload, maxInflight: 0, maxWindow: 0, maxHeaders: Defaults.maxHeaders };
  status: Status = "reconnecting";
  /** Resolves when the client has ended for good: undefined after close(), else why (reconnecting gave up). */
  readonly done: Promise<SampanError | undefined>;

  private readonly servers: ServerAddr[];
  private serverIdx = 0;
  private link: Link | null = null;
  private closedErr: SampanError | undefined;
  private resolveDone!: (e: SampanError | undefined) => void;
  private nextReq = 0;
  private nextSid = 0;
  private window = 1;
  private queue = new Queue<PendingPub>();
  private pubs = new Map<number, PendingPub>();
  private subs = new Map<number, Subscription>();
  private listeners: { [K in keyof ClientEvents]?: Set<ClientEvents[K]> } = {};
  private wakeReconnect: (() => void) | undefined;

  /** @internal use connect() */
  constructor(private readonly opts: ConnectOptions) {
    const list = (Array.isArray(opts.servers) ? opts.servers : opts.servers.split(",")).map((s) => s.trim()).filter((s) => s !== "");
    if (list.length === 0) throw new SampanError(ErrorCode.InvalidArgument, "no server address given");
    this.servers = list.map(parseServer);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** The server the client is connected to ("" while reconnecting). */
  get server(): string {
    return this.link?.addr ?? "";
  }

  /** Publishes sent and not yet answered. */
  get inflight(): number {
    return this.pubs.size;
  }

  /** Publishes waiting for a free slot or a connection. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    let set = this.listeners[event] as Set<ClientEvents[K]> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, Set<unknown>>)[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** @internal */
  emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    const set = this.listeners[event] as Set<(...a: unknown[]) => void> | undefined;
    if (!set || set.size === 0) {
      // Nobody listens for errors: do not swallow them (a throwing handler, a subscription the server ended).
      if (event === "error") console.error("sampan:", args[0]);
      return;
    }
    for (const l of [...set]) {
      try {
        l(...args);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private setStatus(s: Status): void {
    if (this.status === s) return;
    this.status = s;
    this.emit("status", s);
  }

  /** @internal First connection: the first server of the list that answers. */
  async start(): Promise<void> {
    const errs: SampanError[] = [];
    for (let i = 0; i < this.servers.length; i++) {
      try {
        const l = await this.dialServer(this.servers[i]!);
        this.serverIdx = i;
        if (this.up(l)) return;
        errs.push(lost(`${l.addr}: connection closed right after the handshake`));
      } catch (e) {
        errs.push(e as SampanError);
      }
    }
    this.closedErr = errs[0]!;
    this.setStatus("closed");
    this.resolveDone(this.closedErr);
    // A server's own answer (auth_failed, ...) says more than a refused connection.
    const server = errs.find((e) => e.code !== ErrorCode.ConnectionLost);
    if (server) throw server;
    if (errs.length === 1) throw errs[0]!;
    throw new SampanError(ErrorCode.ConnectionLost, `no server answered: ${errs.map((e) => e.message).join("; ")}`);
  }

  /** Opens a connection and runs the handshake (CONNECT, then CONNACK or ERR), bounded by the dial timeout and by deadline (ms since the epoch) when given. */
  private async dialServer(addr: ServerAddr, deadline = Infinity): Promise<Link> {
    const timeout = Math.max(1, Math.min(this.opts.dialTimeout ?? 5000, deadline - Date.now()));
    const t0 = Date.now();
    const t = await dial(addr, { timeout, webSocket: this.opts.webSocket, tls: this.opts.tls, maxFrame: Defaults.maxFrame });
    return await new Promise<Link>((resolve, reject) => {
      let settled = false;
      const finish = (err: SampanError | undefined, ack?: ConnAck) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          t.onClose = () => {};
          t.close();
          reject(err);
          return;
        }
        const l = new Link(t, addr.text, ack!);
        t.setMaxFrame(ack!.maxFrame || Defaults.maxFrame);
        t.onFrame = (type, body) => this.onFrame(l, type, body);
        t.onClose = (e) => this.linkDown(l, e);
        resolve(l);
      };
      const timer = setTimeout(() => finish(lost(`${addr.text}: no CONNACK within ${timeout} ms`)), Math.max(1, timeout - (Date.now() - t0)));
      t.onClose = (e) => finish(e);
      t.onFrame = (type, body) => {
        let f: ServerFrame | undefined;
        try {
          f = decodeFrame(type, body);
        } catch (e) {
          finish(lost(`${addr.text}: bad answer to CONNECT: ${(e as Error).message}`, e));
          return;
        }
        if (f?.t === FrameType.ConnAck) finish(undefined, f.f);
        else if (f?.t === FrameType.Err) finish(new SampanError(f.code, `${addr.text}: ${f.msg}`, { fatal: f.fatal }));
        else finish(lost(`${addr.text}: expected CONNACK, got frame type ${type}`));
      };
      t.send(connectFrame({ name: this.opts.name, user: this.opts.user, pass: this.opts.password, token: this.opts.token }));
    });
  }

  /** Makes l the current connection: resumes every subscription on it and sends waiting publishes. */
  private up(l: Link): boolean {
    if (this.closedErr) {
      l.stop();
      l.t.close();
      return true;
    }
    if (l.dead) return false; // it broke between its handshake and now
    this.link = l;
    this.limits = l.ack;
    const want = this.opts.maxInflight && this.opts.maxInflight > 0 ? this.opts.maxInflight : 1024;
    this.window = l.ack.maxInflight > 0 ? Math.min(want, l.ack.maxInflight) : want;
    l.startPings(this.opts.pingInterval ?? 30000, () => {
      l.t.close(); // reported through linkDown
    });
    for (const s of this.subs.values()) {
      if (s.link === null && !s.stopped) {
        s.link = l;
        l.send(s.resumeFrame());
      }
    }
    this.setStatus("connected");
    this.pump();
    return true;
  }

  private onFrame(l: Link, type: number, body: Uint8Array): void {
    if (l.dead) return;
    l.lastRecv = Date.now();
    let f: ServerFrame | undefined;
    try {
      f = decodeFrame(type, body);
    } catch (e) {
      this.emit("error", e); // a malformed frame is skipped (§2)
      return;
    }
    if (!f) return;
    switch (f.t) {
      case FrameType.PubAck: {
        const p = this.pubs.get(f.r);
        if (p) {
          this.pubs.delete(f.r);
          p.resolve({ seq: f.seq, duplicate: f.dup });
          this.pump();
        }
        break;
      }
      case FrameType.Msg: {
        const s = this.subs.get(f.s);
        if (s && !s.stopped) s.deliver(f.seq, new Message(f.c, f.seq, f.time, f.h ?? {}, f.p), l);
        break;
      }
      case FrameType.SubAck: {
        this.subs.get(f.s)?.gotAck(f.startSeq, f.w);
        break;
      }
      case FrameType.UnsubAck: {
        const s = this.subs.get(f.s);
        if (s && s.stopped) {
          this.subs.delete(f.s);
          s.end(undefined);
        }
        break;
      }
      case FrameType.Err:
        this.onErr(l, f);
        break;
      case FrameType.Ping:
        l.send(pongFrame());
        break;
      default:
        break; // PONG; ROUTE and ACKED are not asked for
    }
  }

  private onErr(l: Link, f: Extract<ServerFrame, { t: typeof FrameType.Err }>): void {
    const e = new SampanError(f.code, f.msg, { fatal: f.fatal });
    if (f.r !== 0) {
      const p = this.pubs.get(f.r);
      if (p) {
        this.pubs.delete(f.r);
        p.reject(e);
        this.pump();
      }
    } else if (f.s !== 0) {
      const s = this.subs.get(f.s);
      if (s) {
        // A running subscription the server cannot serve for a moment (its channel between
        // activations) asks again instead of ending: the promise is to resume with no gap.
        if (s.acked && !s.stopped && f.code === ErrorCode.Unavailable && !this.closedErr) {
          setTimeout(() => {
            if (this.subs.get(s.sid) === s && s.link === l && !l.dead && !s.stopped) l.send(s.resumeFrame());
          }, 100);
        } else {
          this.subs.delete(f.s);
          s.end(e);
        }
      }
    } else if (!f.fatal) {
      this.emit("error", e);
    }
    if (f.fatal) {
      l.t.onClose(lost(`${l.addr}: ${e.message}`, e));
      l.t.close();
    }
  }

  /** Sends waiting publishes while there are free slots and a connection. */
  private pump(): void {
    const l = this.link;
    if (!l || l.dead) return;
    while (this.pubs.size < this.window && this.queue.length > 0) {
      const p = this.queue.shift()!;
      const r = ++this.nextReq;
      this.pubs.set(r, p);
      l.send(pubFrame(r, p.channel, p.payload, p.headers, p.key));
    }
  }

  private linkDown(l: Link, err: SampanError): void {
    if (l.dead) return;
    l.stop();
    if (this.link !== l) return;
    this.link = null;
    // Publishes in flight have an unknown outcome; those not sent yet wait for the next connection.
    const lostPubs = [...this.pubs.values()];
    this.pubs.clear();
    for (const p of lostPubs) p.reject(err);
    for (const s of [...this.subs.values()]) {
      if (s.stopped) {
        this.subs.delete(s.sid); // unsubscribing: nothing to resume
        s.end(undefined);
      } else s.link = null; // resumed on the next connection after the last message received
    }
    if (this.closedErr) return;
    if (this.opts.reconnect === false) {
      this.shutdown(err);
      return;
    }
    this.setStatus("reconnecting");
    this.emit("disconnect", err);
    void this.reconnectLoop(err);
  }

  /** Tries the servers in turn, from the one after the lost one, with growing pauses, until one answers, the client is closed, or reconnectFor runs out. */
  private async reconnectLoop(cause: SampanError): Promise<void> {
    const deadline = Date.now() + (this.opts.reconnectFor ?? 120000);
    let wait = 10;
    let next = this.serverIdx + 1;
    for (;;) {
      for (let i = 0; i < this.servers.length; i++) {
        if (this.closedErr) return;
        const idx = (next + i) % this.servers.length;
        try {
          const l = await this.dialServer(this.servers[idx]!, deadline); // reconnectFor bounds each attempt too
          if (this.closedErr) {
            l.stop();
            l.t.close();
            return;
          }
          this.serverIdx = idx;
          if (this.up(l)) {
            this.emit("reconnect", l.addr);
            return;
          }
          cause = lost(`${l.addr}: connection closed right after the handshake`);
        } catch (e) {
          cause = e as SampanError;
        }
      }
      next = this.serverIdx + 1;
      if (Date.now() >= deadline) {
        this.shutdown(new SampanError(ErrorCode.ConnectionLost, `no server answered for ${this.opts.reconnectFor ?? 120000} ms (last: ${cause.message})`, { cause }));
        return;
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(wait, Math.max(1, deadline - Date.now())));
        this.wakeReconnect = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wakeReconnect = undefined;
      wait = Math.min(wait * 2, 1000);
    }
  }

  /** Ends the client for good: waiting and in-flight publishes fail with err, subscriptions end with it. */
  private shutdown(err: SampanError): void {
    const first = !this.closedErr;
    this.closedErr ??= err;
    const l = this.link;
    this.link = null;
    if (l) {
      l.stop();
      l.t.close();
    }
    this.wakeReconnect?.();
    const pending = [...this.queue.drain(), ...this.pubs.values()];
    this.pubs.clear();
    for (const p of pending) p.reject(err);
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const s of subs) s.end(s.stopped ? undefined : err);
    if (first) {
      this.setStatus("closed");
      const reason = err.code === ErrorCode.Closed ? undefined : err;
      this.resolveDone(reason);
      this.emit("close", reason);
    }
  }

  /**
   * Publishes data to channel and resolves with its seq once the server stored it. Many publishes may
   * be in flight at once: they are sent in call order, at most maxInflight (capped by the server) unanswered
   * at a time; the others wait for a slot (and, while reconnecting, for a connection). Acks of one channel
   * come in publish order. Rejects with SampanError: invalid_channel, payload_too_large, invalid_argument
   * (headers too large) before sending anything; a server error; connection_lost if the connection broke
   * before the answer (the outcome is unknown: retry with an idempotency key); closed.
   */
  publish(channel: string, data: Uint8Array | string, opts?: PublishOptions): Promise<PubAck> {
    try {
      if (this.closedErr) throw this.closedErr.code === ErrorCode.Closed ? this.closedErr : new SampanError(ErrorCode.Closed, `client ended: ${this.closedErr.message}`, { cause: this.closedErr });
      validateChannel(channel);
      const payload = typeof data === "string" ? utf8(data) : data;
      if (!(payload instanceof Uint8Array)) throw new SampanError(ErrorCode.InvalidArgument, "data must be a Uint8Array or a string");
      const max = this.limits.maxPayload || Defaults.maxPayload;
      if (payload.length > max) throw new SampanError(ErrorCode.PayloadTooLarge, `payload ${payload.length} bytes over the server maximum ${max}`);
      const headers = opts?.headers;
      const key = opts?.key;
      const maxH = this.limits.maxHeaders;
      if (headers || key) {
        let hb = key ? utf8Length(key) : 0;
        if (headers) {
          for (const [k, v] of Object.entries(headers)) {
            if (typeof v !== "string") throw new SampanError(ErrorCode.InvalidArgument, `header ${JSON.stringify(k)}: value is not a string`);
            hb += utf8Length(k) + utf8Length(v);
          }
        }
        if (maxH > 0 && hb > maxH) throw new SampanError(ErrorCode.InvalidArgument, `headers and idempotency key are ${hb} bytes, over the maximum ${maxH}`);
      }
      return new Promise<PubAck>((resolve, reject) => {
        this.queue.push({ channel, payload, headers, key, resolve, reject });
        this.pump();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Subscribes handler to channel and resolves once the server confirmed it. The handler receives the
   * messages one at a time, in seq order, with no gap and no duplicate across reconnections (gaps
   * only where retention removed messages). It may return a Promise: the next message waits for it,
   * and credit (flow control) for a message goes back to the server once its handler finished.
   */
  async subscribe(channel: string, opts: SubscribeOptions | undefined, handler: Handler): Promise<Subscription>;
  async subscribe(channel: string, handler: Handler): Promise<Subscription>;
  async subscribe(channel: string, a: SubscribeOptions | Handler | undefined, b?: Handler): Promise<Subscription> {
    const opts = typeof a === "function" ? {} : (a ?? {});
    const handler = typeof a === "function" ? a : b;
    if (typeof handler !== "function") throw new SampanError(ErrorCode.InvalidArgument, "subscribe needs a handler function");
    if (this.closedErr) throw new SampanError(ErrorCode.Closed, "client closed");
    validateChannel(channel);
    const start = normalizeStart(opts.start);
    const w = opts.window ?? 0;
    if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new SampanError(ErrorCode.InvalidArgument, "window must be a non-negative integer");
    const s = new Subscription(this, ++this.nextSid, channel, start, w, handler);
    const acked = new Promise<void>((resolve, reject) => {
      s.onAck = (e) => (e ? reject(e) : resolve());
    });
    this.subs.set(s.sid, s);
    // Sent now, or when the connection is back; if it breaks before SUBACK, sent again on the next one.
    if (this.link) {
      s.link = this.link;
      this.link.send(s.resumeFrame());
    }
    await acked;
    return s;
  }

  /** @internal */
  unsub(s: Subscription): void {
    if (this.subs.get(s.sid) !== s) {
      s.end(undefined);
      return;
    }
    if (!s.link || s.link.dead) {
      // Between connections: nothing to tell a server.
      this.subs.delete(s.sid);
      s.end(undefined);
      return;
    }
    s.link.send(unsubFrame(s.sid));
  }

  /** Closes the client: waiting and in-flight publishes reject with closed (those sent may have been stored), subscriptions end. Safe to call more than once. */
  async close(): Promise<void> {
    this.shutdown(new SampanError(ErrorCode.Closed, "client closed"));
    await this.done;
  }
}

/** Connects to the first server of the list that answers and resolves with a ready client. */
export async function connect(opts: ConnectOptions): Promise<Client> {
  const c = new Client(opts);
  await c.start();
  return c;
}
