// Samples GET /metrics every 3 s and keeps the last minutes of rates and latencies for the charts.
import { get, AuthRequired } from './api.js';
import { parse, total, buckets, deltaBuckets, quantile } from './prom.js';

export const INTERVAL = 3000;
const KEEP = 10 * 60e3;

const COUNTERS = {
  publishes: 'sampan_publishes_total',
  acks: 'sampan_acks_total',
  errors: 'sampan_publish_errors_total',
  deliveries: 'sampan_deliveries_total',
};

/** samples: [{t, publishes, acks, errors, deliveries (per second), p50, p90, p99 (ms), sessions, active}] */
export const samples = [];
export const state = { error: '', authRequired: false, lastTotals: null };
const listeners = new Set();
let prev = null; // {t, totals, buckets}
let timer = 0;

export function onSample(f) { listeners.add(f); return () => listeners.delete(f); }

async function tick() {
  let text;
  try {
    text = await get('/metrics', { as: 'text', headers: { Accept: 'text/plain' } });
    state.error = ''; state.authRequired = false;
  } catch (e) {
    state.authRequired = e instanceof AuthRequired;
    state.error = e.message;
    prev = null; // a gap: no rate across it
    listeners.forEach((f) => f());
    return;
  }
  const m = parse(text);
  const now = { t: Date.now(), totals: {}, buckets: buckets(m, 'sampan_ack_latency_seconds') };
  for (const [k, name] of Object.entries(COUNTERS)) now.totals[k] = total(m, name);
  state.lastTotals = now.totals;
  const s = { t: now.t, sessions: total(m, 'sampan_sessions'), active: total(m, 'sampan_active_channels') };
  if (prev) {
    const dt = (now.t - prev.t) / 1000;
    for (const k of Object.keys(COUNTERS)) s[k] = Math.max(0, now.totals[k] - prev.totals[k]) / dt;
    const d = deltaBuckets(now.buckets, prev.buckets);
    for (const [k, q] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]]) {
      const v = quantile(q, d);
      s[k] = v === null ? null : v * 1000;
    }
  }
  prev = now;
  samples.push(s);
  while (samples.length && samples[0].t < now.t - KEEP) samples.shift();
  listeners.forEach((f) => f());
}

export function start() {
  if (timer) return;
  tick();
  timer = setInterval(tick, INTERVAL);
}

/** Samples again now (after a sign-in). */
export function poke() { tick(); }
