// Line charts in plain SVG: time on x, one or more series on y.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round number ≥ v for the top of the y axis (1, 2, 2.5, 5 × 10^k). */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function fmtNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toString();
  if (a >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/**
 * lineChart(container, {title, unit, series: [{name, color, points: [{t: ms, v: number|null}]}],
 * span: ms}) draws into container (replacing what it held). Null values break the line.
 */
export function lineChart(container, { title, unit = '', series, span: maxSpan = 5 * 60e3, height = 180 }) {
  const width = Math.max(280, Math.floor(container.clientWidth || 480));
  const pad = { l: 48, r: 12, t: 12, b: 24 };
  const w = width - pad.l - pad.r, h = height - pad.t - pad.b;
  const now = Date.now();
  // Young data gets a shorter span (down to a minute) instead of a squeeze at the right edge.
  let first = now;
  for (const s of series) if (s.points.length && s.points[0].t < first) first = s.points[0].t;
  const span = Math.min(maxSpan, Math.max(60e3, Math.ceil((now - first) / 60e3) * 60e3));
  const t0 = now - span;
  let max = 0;
  for (const s of series) for (const p of s.points) if (p.t >= t0 && p.v > max) max = p.v;
  const top = niceMax(max);
  const x = (t) => pad.l + ((t - t0) / span) * w;
  const y = (v) => pad.t + h - (v / top) * h;

  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title, class: 'chart' });
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4, yy = y(v);
    svg.append(el('line', { x1: pad.l, x2: pad.l + w, y1: yy, y2: yy, class: i === 0 ? 'axis' : 'grid' }));
    svg.append(el('text', { x: pad.l - 6, y: yy + 4, 'text-anchor': 'end', class: 'tick' }, fmtNumber(v)));
  }
  const step = [15e3, 30e3, 60e3, 120e3, 300e3].find((st) => span / st <= 6) ?? 600e3;
  for (let k = 0; k * step <= span; k++) {
    const ago = k * step, xx = x(now - ago);
    const label = k === 0 ? 'now' : ago % 60e3 === 0 ? `-${ago / 60e3}m` : `-${ago / 1e3}s`;
    svg.append(el('text', { x: xx, y: height - 6, 'text-anchor': k === 0 ? 'end' : 'middle', class: 'tick' }, label));
  }
  for (const s of series) {
    // Runs of consecutive values become paths; a run of one (a value between gaps) a dot, as is the
    // last value.
    const runs = [];
    let run = [];
    for (const p of s.points) {
      if (p.t < t0 || p.v === null || p.v === undefined || Number.isNaN(p.v)) {
        if (run.length) runs.push(run);
        run = [];
      } else run.push(p);
    }
    if (run.length) runs.push(run);
    runs.forEach((r, i) => {
      if (r.length > 1) {
        const d = r.map((p, j) => `${j ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
        svg.append(el('path', { d, class: 'line', stroke: s.color }));
      }
      const lastRun = i === runs.length - 1 && r.at(-1) === s.points.at(-1);
      if (r.length === 1 || lastRun) {
        const p = r.at(-1);
        svg.append(el('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3, fill: s.color, class: 'dot' }));
      }
    });
  }

  const legend = document.createElement('div');
  legend.className = 'legend';
  for (const s of series) {
    const last = [...s.points].reverse().find((p) => p.v !== null && p.v !== undefined);
    const item = document.createElement('span');
    const dot = document.createElement('i');
    dot.style.background = s.color;
    item.append(dot, `${s.name} `);
    const val = document.createElement('b');
    val.textContent = last ? `${fmtNumber(last.v)}${unit}` : '–';
    item.append(val);
    legend.append(item);
  }
  const head = document.createElement('h3');
  head.textContent = title;
  container.replaceChildren(head, svg, legend);
}
