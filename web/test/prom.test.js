// The console's Prometheus text parser and histogram maths (console/prom.js), without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, total, buckets, deltaBuckets, quantile } from '../console/prom.js';

const text = `# HELP sampan_publishes_total Publishes accepted from clients.
# TYPE sampan_publishes_total counter
sampan_publishes_total 42
sampan_sessions 3
sampan_consumer_channel_acks_total{channel="a \\"quoted\\" one",consumer="c1"} 5
sampan_consumer_channel_acks_total{channel="b,c",consumer="c2"} 7 1700000000000
# TYPE sampan_ack_latency_seconds histogram
sampan_ack_latency_seconds_bucket{le="0.001"} 10
sampan_ack_latency_seconds_bucket{le="0.002"} 30
sampan_ack_latency_seconds_bucket{le="0.004"} 40
sampan_ack_latency_seconds_bucket{le="+Inf"} 40
sampan_ack_latency_seconds_sum 0.05
sampan_ack_latency_seconds_count 40
go_gc_duration_seconds{quantile="0.5"} 1.5e-05
`;

test('parse reads values, labels with escapes and commas, and skips comments', () => {
  const m = parse(text);
  assert.equal(total(m, 'sampan_publishes_total'), 42);
  assert.equal(total(m, 'sampan_sessions'), 3);
  assert.equal(total(m, 'absent_total'), 0);
  const acks = m.get('sampan_consumer_channel_acks_total');
  assert.deepEqual(acks.map((x) => x.labels), [{ channel: 'a "quoted" one', consumer: 'c1' }, { channel: 'b,c', consumer: 'c2' }]);
  assert.equal(total(m, 'sampan_consumer_channel_acks_total'), 12);
  assert.equal(m.get('go_gc_duration_seconds')[0].value, 1.5e-5);
});

test('quantile interpolates within buckets like histogram_quantile', () => {
  const bs = buckets(parse(text), 'sampan_ack_latency_seconds');
  assert.deepEqual(bs.map((b) => b.le), [0.001, 0.002, 0.004, Infinity]);
  assert.equal(quantile(0.25, bs), 0.001); // rank 10: the top of the first bucket
  assert.ok(Math.abs(quantile(0.5, bs) - 0.0015) < 1e-12); // rank 20: halfway through (0.001, 0.002]
  assert.ok(Math.abs(quantile(0.99, bs) - (0.002 + 0.002 * (39.6 - 30) / 10)) < 1e-12);
  assert.equal(quantile(0.5, bs.map((b) => ({ ...b, count: 0 }))), null);
  assert.equal(quantile(0.5, []), null);
});

test('deltaBuckets gives the interval between two scrapes', () => {
  const before = [{ le: 0.001, count: 10 }, { le: Infinity, count: 12 }];
  const now = [{ le: 0.001, count: 10 }, { le: Infinity, count: 20 }];
  const d = deltaBuckets(now, before);
  assert.deepEqual(d, [{ le: 0.001, count: 0 }, { le: Infinity, count: 8 }]);
  assert.equal(quantile(0.5, d), 0.001); // all in +Inf: the highest finite bound
});
