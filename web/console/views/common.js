import { AuthRequired } from '../api.js';
import { h, notice } from '../dom.js';

/** What a view shows when a fetch failed: a sign-in prompt on 401, else the error. */
export function failure(e, ctx) {
  if (e instanceof AuthRequired) {
    return h('div.notice.warn', 'This node protects reads: sign in to see it. ',
      h('button', { type: 'button', onclick: () => ctx.login() }, 'Sign in'));
  }
  return notice(`Could not load: ${e.message}`, 'error');
}

/** Runs f now and every ms while the view is shown; returns the stop function. */
export function every(ms, f) {
  let stopped = false, timer = 0;
  const loop = async () => {
    try { await f(); } finally { if (!stopped) timer = setTimeout(loop, ms); }
  };
  loop();
  return () => { stopped = true; clearTimeout(timer); };
}
