// One channel: GET /channels/{name} every 3 s, a live tail and a publish form over the WebSocket client.
import { get, APIError } from '../api.js';
import { h, badge, fmtBytes, fmtInt, notice } from '../dom.js';
import { failure, every } from './common.js';
import { stateBadge } from './channels.js';
import * as ws from '../ws.js';

const MAX_ROWS = 500;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function payloadText(m) {
  try {
    return { text: utf8.decode(m.data), binary: false };
  } catch {
    const hex = [...m.data.slice(0, 64)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return { text: hex + (m.data.length > 64 ? ' …' : ''), binary: true };
  }
}

function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`header “${t}”: want KEY=VALUE`);
    out[t.slice(0, i).trim()] = t.slice(i + 1);
  }
  return out;
}

function statusView(c) {
  const dl = (pairs) => h('dl.facts', pairs.map(([k, v]) => [h('dt', k), h('dd', v)]));
  return dl([
    ['State', stateBadge(c.state)],
    ['Leader', c.leader ? `node #${c.leader}` : h('span.muted', 'unknown here')],
    ['Replicas', (c.replicas ?? []).map((r) => badge(`#${r.NodeID}${r.Joining ? ' joining' : ''}`, r.NodeID === c.leader ? 'info' : 'muted'))],
    ['Shard', String(c.shard_id)],
    ['Seq range', c.last_seq ? `${fmtInt(c.first_seq)} – ${fmtInt(c.last_seq)}` : h('span.muted', 'empty')],
    ['Messages', fmtInt(c.messages)],
    ['Bytes', fmtBytes(c.bytes)],
    ['Subscribers', `${fmtInt(c.subscribers)} on this node`],
    ['Retention', c.retention || h('span.muted', 'default')],
  ]);
}

export function render(root, ctx, name) {
  const status = h('div', h('p.muted', 'Loading…'));
  const wsNote = ws.wsURL() ? null : notice('Tail and publish need the WebSocket listener: start the node with sampan serve --ws ADDR.', 'warn');

  // Tail.
  const list = h('ol.tail', { 'data-testid': 'tail' });
  const tailState = h('span.badge.muted', 'idle');
  const startSel = h('select', { 'aria-label': 'Start' },
    h('option', { value: 'latest' }, 'new messages'),
    h('option', { value: 'earliest' }, 'from the earliest'),
    h('option', { value: 'seq' }, 'from seq…'));
  const seqInput = h('input', { type: 'number', min: 1, placeholder: 'seq', hidden: true, 'aria-label': 'Start seq' });
  const pauseBtn = h('button.secondary', { type: 'button' }, 'Pause');
  const clearBtn = h('button.secondary', { type: 'button', onclick: () => list.replaceChildren() }, 'Clear');
  const tailErr = h('div');
  let sub = null, paused = false, gen = 0, count = 0;
  const counter = h('span.muted', '0 messages');

  // The status follows what the page sees happen, soon after (at most every 500 ms), besides every 3 s.
  let soon = 0;
  const refreshSoon = () => { if (!soon) soon = setTimeout(() => { soon = 0; loadStatus(); }, 500); };

  const addRow = (m) => {
    refreshSoon();
    count++;
    counter.textContent = `${fmtInt(count)} message${count === 1 ? '' : 's'}`;
    if (paused) return;
    const p = payloadText(m);
    const hdrs = Object.entries(m.headers ?? {});
    list.prepend(h('li.msg', { 'data-seq': String(m.seq) },
      h('span.seq', `#${m.seq}`),
      h('time', { dateTime: m.time?.toISOString?.() ?? '' }, m.time?.toLocaleTimeString?.() ?? ''),
      h('div.body',
        hdrs.length ? h('div.headers', hdrs.map(([k, v]) => badge(`${k}=${v}`, 'muted'))) : null,
        h('pre', { class: p.binary ? 'binary' : '' }, p.text))));
    while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
  };

  const subscribe = async () => {
    const my = ++gen;
    const old = sub; sub = null;
    if (old) old.unsubscribe().catch(() => {});
    tailErr.replaceChildren();
    if (!ws.wsURL()) { tailState.textContent = 'no WebSocket'; return; }
    let start = startSel.value;
    if (start === 'seq') {
      const n = Number(seqInput.value);
      if (!(n >= 1)) { tailState.textContent = 'pick a seq'; return; }
      start = { seq: n };
    }
    tailState.textContent = 'connecting…'; tailState.className = 'badge muted';
    try {
      const c = await ws.client();
      const s = await c.subscribe(name, { start }, (m) => { if (my === gen) addRow(m); });
      if (my !== gen) { s.unsubscribe().catch(() => {}); return; }
      sub = s;
      tailState.textContent = 'live'; tailState.className = 'badge ok';
    } catch (e) {
      if (my !== gen) return;
      tailState.textContent = 'error'; tailState.className = 'badge bad';
      tailErr.replaceChildren(notice(`Tail failed: ${e.message}${e.code ? ` (${e.code})` : ''}`, 'error'));
    }
  };
  startSel.addEventListener('change', () => { seqInput.hidden = startSel.value !== 'seq'; if (startSel.value !== 'seq') subscribe(); });
  seqInput.addEventListener('change', subscribe);
  pauseBtn.addEventListener('click', () => { paused = !paused; pauseBtn.textContent = paused ? 'Resume' : 'Pause'; });

  // Publish.
  const dataIn = h('textarea', { name: 'data', rows: 3, placeholder: 'Message payload (UTF-8 text)', required: true });
  const hdrIn = h('textarea', { name: 'headers', rows: 2, placeholder: 'Headers, one KEY=VALUE per line (optional)', spellcheck: false });
  const pubBtn = h('button', { type: 'submit' }, 'Publish');
  const pubResult = h('div.pub-result', { id: 'publish-result', role: 'status' });
  const form = h('form.publish', { id: 'publish' }, h('label', 'Message', dataIn), h('label', 'Headers', hdrIn),
    h('div.actions', pubResult, pubBtn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    pubBtn.disabled = true;
    pubResult.className = 'pub-result'; pubResult.textContent = 'Publishing…';
    try {
      const headers = parseHeaders(hdrIn.value);
      const c = await ws.client();
      const opts = Object.keys(headers).length ? { headers } : {};
      const ack = await c.publish(name, new TextEncoder().encode(dataIn.value), opts);
      pubResult.className = 'pub-result ok';
      pubResult.textContent = `Published: seq ${ack.seq}`;
      pubResult.dataset.seq = String(ack.seq);
      refreshSoon();
      dataIn.value = '';
      dataIn.focus();
    } catch (e) {
      pubResult.className = 'pub-result error';
      pubResult.textContent = `Publish failed: ${e.message}${e.code ? ` (${e.code})` : ''}`;
    } finally {
      pubBtn.disabled = false;
    }
  });
  if (!ws.wsURL()) { pubBtn.disabled = true; dataIn.disabled = true; hdrIn.disabled = true; }

  root.replaceChildren(h('section',
    h('p.crumbs', h('a', { href: '#/channels' }, 'Channels'), ' / '),
    h('h1.mono', { 'data-testid': 'channel-name' }, name),
    wsNote,
    h('div.grid2',
      h('div.panel', h('h2', 'Status'), status),
      h('div.panel', h('h2', 'Publish'), form)),
    h('div.panel',
      h('div.panel-head', h('h2', 'Live tail'), tailState, counter, h('span.spacer'), startSel, seqInput, pauseBtn, clearBtn),
      tailErr, list)));

  const offStatus = ws.onStatus((st) => {
    if (!sub) return;
    const [text, kind] = { connected: ['live', 'ok'], reconnecting: ['reconnecting…', 'warn'], closed: ['closed', 'bad'] }[st] ?? [st, 'muted'];
    tailState.textContent = text; tailState.className = `badge ${kind}`;
  });
  const loadStatus = async () => {
    try {
      status.replaceChildren(statusView(await get('/channels/' + encodeURIComponent(name))));
    } catch (e) {
      status.replaceChildren(e instanceof APIError && e.status === 404
        ? notice('No such channel yet: publishing to it creates it.')
        : failure(e, ctx));
    }
  };
  const stopStatus = every(3000, loadStatus);
  subscribe();
  return () => {
    stopStatus();
    offStatus();
    clearTimeout(soon);
    gen++;
    if (sub) sub.unsubscribe().catch(() => {});
  };
}
