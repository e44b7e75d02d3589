// The admin API over fetch, with the console's login: credentials live in memory (this tab) only.

/** Raised when the API answers 401: the view shows a sign-in prompt. */
export class AuthRequired extends Error {
  constructor(message = 'sign in required') { super(message); this.name = 'AuthRequired'; }
}

/** Raised for any other non-2xx answer; .status is the HTTP status. */
export class APIError extends Error {
  constructor(status, message) { super(message); this.name = 'APIError'; this.status = status; }
}

let creds = null; // {user, password}
const listeners = new Set();

export const auth = {
  get user() { return creds?.user ?? ''; },
  get password() { return creds?.password ?? ''; },
  get signedIn() { return creds !== null; },
  set(user, password) { creds = { user, password }; listeners.forEach((f) => f()); },
  clear() { creds = null; listeners.forEach((f) => f()); },
  onChange(f) { listeners.add(f); return () => listeners.delete(f); },
};

function headers(extra) {
  const h = new Headers(extra);
  h.set('Accept', 'application/json');
  if (creds) {
    // btoa takes Latin-1: encode UTF-8 first so any user name works.
    const raw = new TextEncoder().encode(`${creds.user}:${creds.password}`);
    h.set('Authorization', 'Basic ' + btoa(String.fromCharCode(...raw)));
  }
  return h;
}

/**
 * GET path (relative to the node's HTTP listener). credentials 'omit' keeps the browser from opening
 * its own Basic-auth prompt on a 401: the console's form asks instead.
 */
export async function get(path, { as = 'json', headers: extra, signal } = {}) {
  const res = await fetch(path, { headers: headers(extra), credentials: 'omit', cache: 'no-store', signal });
  if (res.status === 401) throw new AuthRequired();
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { const body = await res.json(); if (body.error) msg = body.error; } catch { /* not JSON */ }
    throw new APIError(res.status, msg);
  }
  return as === 'text' ? res.text() : res.json();
}

/** Tries credentials against an endpoint that needs them (when the node protects reads). */
export async function tryLogin(user, password, path = '/console/info') {
  const prev = creds;
  creds = { user, password };
  try {
    await get(path);
    auth.set(user, password);
    return true;
  } catch (e) {
    creds = prev;
    if (e instanceof AuthRequired) return false;
    throw e;
  }
}
