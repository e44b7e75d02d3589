// PLACEHOLDER: the real browser bundle of the TypeScript client (clients/typescript) replaces this file.
// It has the bundle's exports so the console loads, and every call fails with "not built".

export class SampanError extends Error {
  constructor(code, message) { super(message); this.name = 'SampanError'; this.code = code; }
}

function notBuilt() {
  return new SampanError('not_built', 'sampan-client.js is a placeholder: the TypeScript client bundle is not built into web/console/lib yet');
}

export async function connect() { throw notBuilt(); }
