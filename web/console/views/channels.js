// Channels view: GET /channels?prefix=&after=&limit=, one page at a time, searchable by prefix.
import { get } from '../api.js';
import { h, badge, fmtBytes, fmtInt } from '../dom.js';
import { failure, every } from './common.js';

// The view's place, kept across visits: the prefix, the page size and the stack of ?after= values.
const place = { prefix: '', limit: 50, afters: [''] };

export function stateBadge(state) {
  return badge(state, { hot: 'hot', warm: 'warm', cold: 'cold' }[state] ?? '');
}

export function channelHref(name) { return '#/channels/' + encodeURIComponent(name); }

export function render(root, ctx) {
  const input = h('input', { type: 'search', placeholder: 'Channel name prefix', value: place.prefix, 'aria-label': 'Prefix', spellcheck: false });
  const body = h('div', h('p.muted', 'Loading…'));
  const prev = h('button.secondary', { type: 'button', disabled: true }, '← Previous');
  const next = h('button.secondary', { type: 'button', disabled: true }, 'Next →');
  const pageLabel = h('span.muted');
  const sizeSel = h('select', { 'aria-label': 'Page size', name: 'limit' },
    [10, 50, 200, 1000].map((n) => h('option', { value: String(n), selected: n === place.limit }, `${n} a page`)));
  sizeSel.addEventListener('change', () => { place.limit = Number(sizeSel.value); place.afters = ['']; restart(); });
  let nextAfter = '';
  let seq = 0; // drops answers to older requests

  const load = async () => {
    const my = ++seq;
    const after = place.afters[place.afters.length - 1];
    const q = new URLSearchParams({ prefix: place.prefix, after, limit: String(place.limit) });
    let page;
    try {
      page = await get('/channels?' + q);
    } catch (e) {
      if (my === seq) body.replaceChildren(failure(e, ctx));
      return;
    }
    if (my !== seq) return;
    nextAfter = page.next;
    prev.disabled = place.afters.length <= 1;
    next.disabled = !page.next;
    pageLabel.textContent = `page ${place.afters.length}`;
    if (page.channels.length === 0) {
      body.replaceChildren(h('div.notice', place.prefix ? `No channel starts with “${place.prefix}”.` : 'No channels yet: publish to one to create it.'));
      return;
    }
    body.replaceChildren(h('div.table-wrap', h('table.channels',
      h('thead', h('tr', ['Channel', 'State', 'Leader', 'Replicas', 'Last seq', 'Messages', 'Bytes', 'Subscribers', 'Retention'].map((t) => h('th', t)))),
      h('tbody', page.channels.map((c) => h('tr',
        h('td', h('a', { href: channelHref(c.name), class: 'chan' }, c.name)),
        h('td', stateBadge(c.state)),
        h('td', c.leader ? `#${c.leader}` : h('span.muted', '–')),
        h('td', (c.replicas ?? []).map((r) => badge(`#${r.NodeID}`, r.Joining ? 'warn' : r.NodeID === c.leader ? 'info' : 'muted'))),
        h('td.num', fmtInt(c.last_seq)),
        h('td.num', fmtInt(c.messages)),
        h('td.num', fmtBytes(c.bytes)),
        h('td.num', { title: "this node's connections subscribed" }, fmtInt(c.subscribers)),
        h('td', c.retention || h('span.muted', 'default')),
      ))))));
  };

  let stop = () => {};
  const restart = () => { stop(); stop = every(5000, load); };
  let debounce = 0;
  input.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { place.prefix = input.value; place.afters = ['']; restart(); }, 250);
  });
  prev.addEventListener('click', () => { if (place.afters.length > 1) { place.afters.pop(); restart(); } });
  next.addEventListener('click', () => { if (nextAfter) { place.afters.push(nextAfter); restart(); } });

  root.replaceChildren(h('section',
    h('h1', 'Channels'),
    h('div.toolbar', input, h('div.pager', sizeSel, prev, pageLabel, next)),
    body));
  restart();
  return () => { stop(); clearTimeout(debounce); };
}
