// Channels view: GET /channels?prefix=&after=&limit=, one page at a time, searchable by prefix.
import { get } from '../api.js';
import { h, badge, fmtBytes, fmtInt } from '../dom.js';
import { failure, every } from './common.js';

const PAGE = 50;
// The view's place, kept across visits: the prefix and the stack of ?after= values of the pages.
const place = { prefix: '', afters: [''] };

export function stateBadge(state) {
  return badge(state, { hot: 'hot', warm: 'warm', cold: 'cold' }[state] ?? '');
}

export function channelHref(name) { return '#/channels/' + encodeURIComponent(name); }

export function render(root, ctx) {
  const input = h('input', { type: 'search', placeholder: 'Channel name prefix', value: place.prefix, 'aria-label': 'Prefix', spellcheck: false });
  const body = h('div', h('p.muted', 'Loading…'));
  const prev = h('button.secondary', { type: 'button' }, '← Previous');
  const next = h('button.secondary', { type: 'button' }, 'Next →');
  const pageLabel = h('span.muted');
  let nextAfter = '';
  let seq = 0; // drops answers to older requests

  const load = async () => {
    const my = ++seq;
    const after = place.afters[place.afters.length - 1];
    const q = new URLSearchParams({ prefix: place.prefix, after, limit: String(PAGE) });
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
      h('thead', h('tr', ['Channel', 'State', 'Leader', 'Replicas', 'Last seq', 'Messages', 'Bytes', 'Retention'].map((t) => h('th', t)))),
      h('tbody', page.channels.map((c) => h('tr',
        h('td', h('a', { href: channelHref(c.name), class: 'chan' }, c.name)),
        h('td', stateBadge(c.state)),
        h('td', c.leader ? `#${c.leader}` : h('span.muted', '–')),
        h('td', (c.replicas ?? []).map((r) => badge(`#${r.NodeID}`, r.Joining ? 'warn' : r.NodeID === c.leader ? 'info' : 'muted'))),
        h('td.num', fmtInt(c.last_seq)),
        h('td.num', fmtInt(c.messages)),
        h('td.num', fmtBytes(c.bytes)),
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
    h('div.toolbar', input, h('div.pager', prev, pageLabel, next)),
    body));
  restart();
  return () => { stop(); clearTimeout(debounce); };
}
