// A small parser of the Prometheus text exposition format, and the maths the charts need.

/**
 * parse(text) → Map(metric name → [{labels, value}]). Comments and timestamps are dropped; histogram
 * series keep their own names (x_bucket, x_sum, x_count).
 */
export function parse(text) {
  const out = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ' && line[i] !== '\t') i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      i++;
      while (i < line.length && line[i] !== '}') {
        const eq = line.indexOf('=', i);
        if (eq < 0) break;
        const key = line.slice(i, eq).trim().replace(/^,/, '').trim();
        i = eq + 1;
        if (line[i] !== '"') break;
        i++;
        let val = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) {
            const c = line[++i];
            val += c === 'n' ? '\n' : c;
          } else val += line[i];
          i++;
        }
        i++; // closing quote
        labels[key] = val;
        while (i < line.length && (line[i] === ',' || line[i] === ' ')) i++;
      }
      i++; // closing brace
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseValue(rest[0]);
    if (name === '' || Number.isNaN(value) && rest[0] !== 'NaN') continue;
    if (!out.has(name)) out.set(name, []);
    out.get(name).push({ labels, value });
  }
  return out;
}

function parseValue(s) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/** The sum of a metric's series (0 when absent): the node-wide counters have no labels. */
export function total(metrics, name) {
  return (metrics.get(name) ?? []).reduce((s, x) => s + x.value, 0);
}

/** A histogram's cumulative buckets as [{le, count}] sorted by le (+Inf last). */
export function buckets(metrics, name) {
  return (metrics.get(name + '_bucket') ?? [])
    .map((x) => ({ le: parseValue(x.labels.le), count: x.value }))
    .sort((a, b) => a.le - b.le);
}

/** Bucket counts of the interval between two scrapes (now minus before). */
export function deltaBuckets(now, before) {
  const prev = new Map(before.map((b) => [b.le, b.count]));
  return now.map((b) => ({ le: b.le, count: Math.max(0, b.count - (prev.get(b.le) ?? 0)) }));
}

/**
 * quantile(q, cumulative buckets) as Prometheus' histogram_quantile does: linear within the bucket
 * where the rank falls; null with no observations. A rank in the +Inf bucket answers the highest
 * finite bound.
 */
export function quantile(q, bs) {
  if (bs.length === 0) return null;
  const n = bs[bs.length - 1].count;
  if (!(n > 0)) return null;
  const rank = q * n;
  let lower = 0, below = 0;
  for (const b of bs) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      const inBucket = b.count - below;
      return inBucket > 0 ? lower + (b.le - lower) * ((rank - below) / inBucket) : b.le;
    }
    lower = b.le === Infinity ? lower : b.le;
    below = b.count;
  }
  return lower;
}
