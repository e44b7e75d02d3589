// The console's entry: hash routes, the sign-in dialog, the header.
import { get, auth, tryLogin, AuthRequired } from './api.js';
import * as ws from './ws.js';
import * as sampler from './sampler.js';
import * as nodes from './views/nodes.js';
import * as channels from './views/channels.js';
import * as channel from './views/channel.js';
import * as metrics from './views/metrics.js';

const $ = (id) => document.getElementById(id);
const view = $('view');
let info = null;
let cleanup = () => {};

const dialog = $('login');
const form = $('login-form');
const loginErr = $('login-error');

const ctx = {
  login() {
    if (dialog.open) return;
    loginErr.hidden = true;
    form.reset();
    dialog.showModal();
    form.elements.user.focus();
  },
};

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const user = form.elements.user.value, password = form.elements.password.value;
  $('login-submit').disabled = true;
  loginErr.hidden = true;
  try {
    if (info && !info.auth) {
      loginErr.textContent = 'This node has no users: nothing to sign in to.';
      loginErr.hidden = false;
      return;
    }
    if (await tryLogin(user, password)) {
      dialog.close();
      await loadInfo();
      sampler.poke();
      route();
    } else {
      loginErr.textContent = 'Wrong user or password.';
      loginErr.hidden = false;
    }
  } catch (e) {
    loginErr.textContent = e.message;
    loginErr.hidden = false;
  } finally {
    $('login-submit').disabled = false;
  }
});
$('login-cancel').addEventListener('click', () => dialog.close());
$('login-btn').addEventListener('click', () => ctx.login());
$('logout-btn').addEventListener('click', () => { auth.clear(); loadInfo().finally(route); });

function header() {
  const needs = info ? info.auth : true;
  $('login-btn').hidden = auth.signedIn || !needs;
  $('logout-btn').hidden = !auth.signedIn;
  const ub = $('user-badge');
  ub.hidden = !auth.signedIn;
  ub.className = 'badge info';
  ub.textContent = auth.user;
  const nb = $('node-badge');
  nb.textContent = info && !info.unknown ? `node #${info.node}` : 'node ?';
  nb.title = info ? (info.ws ? `WebSocket ${ws.wsURL(info)}` : 'no WebSocket listener') : '';
}

async function loadInfo() {
  try {
    info = await get('/console/info');
  } catch (e) {
    if (!(e instanceof AuthRequired)) console.warn('console info:', e);
    info = e instanceof AuthRequired ? { node: 0, ws: '', ws_tls: false, auth: true, unknown: true } : null;
  }
  ws.setInfo(info);
  header();
  return info;
}

function route() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash.replace(/^#/, '') || '/';
  let nav = 'nodes';
  if (hash === '/channels') {
    nav = 'channels';
    cleanup = channels.render(view, ctx);
  } else if (hash.startsWith('/channels/')) {
    nav = 'channels';
    let name = hash.slice('/channels/'.length);
    try { name = decodeURIComponent(name); } catch { /* keep as is */ }
    cleanup = channel.render(view, ctx, name);
  } else if (hash === '/metrics') {
    nav = 'metrics';
    cleanup = metrics.render(view, ctx);
  } else {
    cleanup = nodes.render(view, ctx);
  }
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
  document.title = `Sampan · ${nav}`;
}

addEventListener('hashchange', route);
await loadInfo();
if (info?.unknown) ctx.login();
sampler.start();
route();
