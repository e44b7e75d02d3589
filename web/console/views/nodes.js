// Cluster view: GET /cluster/status and GET /cluster/nodes, refreshed every 3 s.
import { get } from '../api.js';
import { h, badge, fmtInt } from '../dom.js';
import { failure, every } from './common.js';

const drainStart = new Map(); // node id → the most replicas_left seen, for the progress bar

function card(label, value, sub) {
  return h('div.card', h('div.card-label', label), h('div.card-value', value), sub ? h('div.card-sub', sub) : null);
}

function stateBadge(n) {
  const kind = { active: 'ok', pending: 'muted', draining: 'warn', removed: 'muted' }[n.state] ?? '';
  return badge(n.state, kind);
}

function drainCell(n) {
  if (!n.drain) return n.state === 'draining' ? h('span.muted', 'starting…') : '';
  const left = n.drain.replicas_left;
  const first = Math.max(drainStart.get(n.id) ?? 0, left, 1);
  drainStart.set(n.id, first);
  const done = first - left;
  return h('div.drain',
    h('progress', { max: first, value: done }),
    h('span', `${fmtInt(left)} replica${left === 1 ? '' : 's'} left`),
    n.drain.last_error ? h('div.error.small', n.drain.last_error) : null);
}

export function render(root, ctx) {
  const cards = h('div.cards');
  const body = h('div', h('p.muted', 'Loading…'));
  root.replaceChildren(h('section', h('h1', 'Cluster'), cards, h('h2', 'Nodes'), body));
  return every(3000, async () => {
    let st, nodes;
    try {
      [st, nodes] = await Promise.all([get('/cluster/status'), get('/cluster/nodes')]);
    } catch (e) {
      cards.replaceChildren();
      body.replaceChildren(failure(e, ctx));
      return;
    }
    cards.replaceChildren(
      card('This node', `#${st.node_id}`, st.ready ? 'ready' : 'not ready'),
      card('Nodes up', `${st.nodes_up} / ${st.nodes}`, st.nodes_up < st.nodes ? 'some nodes are down' : 'all up'),
      card('Metadata leader', st.meta_leader ? `#${st.meta_leader}` : '?', `group ${st.meta_shard}`),
      card('Channels', fmtInt(st.channels), `${fmtInt(st.hot_channels)} running here`),
    );
    const mig = st.migration;
    if (mig) {
      cards.append(card('Migration', mig.step || 'running',
        mig.error ? `error: ${mig.error}` : mig.total ? `${fmtInt(mig.imported)} / ${fmtInt(mig.total)} imported` : ''));
    }
    const rows = (nodes ?? []).map((n) => h('tr', { class: n.removed ? 'dim' : '' },
      h('td', h('b', `#${n.id}`), n.id === st.node_id ? h('span.muted', ' (this)') : ''),
      h('td', n.removed || n.state === 'pending' ? badge('–', 'muted') : badge(n.up ? 'up' : 'down', n.up ? 'ok' : 'bad')),
      h('td', stateBadge(n)),
      h('td', n.meta || h('span.muted', '–'), n.id === st.meta_leader ? [' ', badge('leader', 'info')] : ''),
      h('td.num', fmtInt(n.replicas)),
      h('td.num', fmtInt(n.channels_led)),
      h('td.mono', n.client), h('td.mono', n.http), h('td.mono', n.raft),
      h('td', drainCell(n)),
    ));
    body.replaceChildren(h('div.table-wrap', h('table',
      h('thead', h('tr', ['Node', 'Up', 'State', 'Metadata', 'Replicas', 'Leads', 'Client', 'HTTP', 'Raft', 'Drain'].map((t) => h('th', t)))),
      h('tbody', rows))));
  });
}
