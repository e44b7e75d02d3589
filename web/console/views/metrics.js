// Metrics view: charts of the rates and the ack latency the sampler computes from GET /metrics.
import { h, fmtInt } from '../dom.js';
import { lineChart } from '../chart.js';
import { samples, state, onSample, INTERVAL } from '../sampler.js';
import { failure } from './common.js';
import { AuthRequired } from '../api.js';

const C = { blue: '#2f7ed8', green: '#2e9e6a', amber: '#d9902b', red: '#c94a4a', violet: '#7b5cc4' };

export function render(root, ctx) {
  const msg = h('div');
  const rate = h('div.panel.chart-panel', { 'data-testid': 'chart-rate' });
  const lat = h('div.panel.chart-panel', { 'data-testid': 'chart-latency' });
  const conn = h('div.panel.chart-panel', { 'data-testid': 'chart-sessions' });
  const totals = h('p.muted.small');
  root.replaceChildren(h('section',
    h('h1', 'Metrics'),
    h('p.muted', `This node's counters from /metrics, sampled every ${INTERVAL / 1000} s while the console is open (last 5 minutes).`),
    msg, h('div.charts', rate, lat, conn), totals));

  const draw = () => {
    if (state.error) {
      msg.replaceChildren(state.authRequired ? failure(new AuthRequired(), ctx) : failure(new Error(state.error), ctx));
    } else msg.replaceChildren();
    const pts = (k) => samples.map((s) => ({ t: s.t, v: s[k] ?? null }));
    lineChart(rate, { title: 'Messages per second', series: [
      { name: 'published', color: C.blue, points: pts('publishes') },
      { name: 'acked', color: C.green, points: pts('acks') },
      { name: 'delivered', color: C.violet, points: pts('deliveries') },
      { name: 'errors', color: C.red, points: pts('errors') },
    ] });
    lineChart(lat, { title: 'Ack latency (ms, over each 3 s)', unit: ' ms', series: [
      { name: 'p50', color: C.green, points: pts('p50') },
      { name: 'p90', color: C.amber, points: pts('p90') },
      { name: 'p99', color: C.red, points: pts('p99') },
    ] });
    lineChart(conn, { title: 'Sessions and active channels', series: [
      { name: 'sessions', color: C.blue, points: pts('sessions') },
      { name: 'active channels', color: C.amber, points: pts('active') },
    ] });
    const t = state.lastTotals;
    totals.textContent = t ? `Totals since start: ${fmtInt(t.publishes)} published, ${fmtInt(t.acks)} acked, ${fmtInt(t.deliveries)} delivered, ${fmtInt(t.errors)} errors.` : '';
  };
  draw();
  const off = onSample(draw);
  const onResize = () => draw();
  addEventListener('resize', onResize);
  return () => { off(); removeEventListener('resize', onResize); };
}
