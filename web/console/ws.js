// The console's one WebSocket client (lib/sampan-client.js), opened when a view first needs it and
// reopened when the credentials change.
import { auth } from './api.js';

let info = null;
let pending = null; // Promise of the client
let mod = null;
const statusListeners = new Set();

/** f(status) on each change of the connection: "connected", "reconnecting", "closed". */
export function onStatus(f) { statusListeners.add(f); return () => statusListeners.delete(f); }

export function setInfo(i) { info = i; }

/** The WebSocket URL of the node's listener, or '' when it has none. */
export function wsURL(i = info) {
  if (!i || !i.ws) return '';
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(i.ws);
  if (!m) return '';
  let host = m[1] ?? m[2];
  if (host === '' || host === '0.0.0.0' || host === '::') host = location.hostname;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `${i.ws_tls ? 'wss' : 'ws'}://${host}:${m[3]}`;
}

/** The connected client (connecting on first use). Throws when the node has no WebSocket listener. */
export function client() {
  if (!pending) {
    const url = wsURL();
    if (!url) return Promise.reject(new Error('this node has no WebSocket listener'));
    const p = (async () => {
      mod ??= await import('./lib/sampan-client.js');
      const opts = { servers: [url] };
      if (auth.signedIn) { opts.user = auth.user; opts.password = auth.password; }
      const c = await mod.connect(opts);
      // Events are the bundle's extra (on(event, f)): used when there.
      if (typeof c.on === 'function') {
        c.on('status', (st) => statusListeners.forEach((f) => f(st)));
        c.on('close', () => { if (pending === p) pending = null; }); // gave up: the next use connects anew
      }
      return c;
    })();
    pending = p;
    p.catch(() => { if (pending === p) pending = null; }); // the next call tries again
  }
  return pending;
}

/** Closes the client; the next client() connects again. */
export function reset() {
  const p = pending;
  pending = null;
  p?.then((c) => c.close()).catch(() => {});
}

auth.onChange(reset);
