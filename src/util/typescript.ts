// Importing a TypeScript module (a pipeline's own experiment kinds, `kinds: ./kinds.ts`) from the
// compiled CLI. Node 20 cannot load .ts files by itself, so tsx's loader is registered once, on the
// first such import; from the sources (tests run through tsx) it is already there. When tsx is not
// installed the error says what to do.

import { UserError } from '../errors.ts';

let registered = import.meta.url.endsWith('.ts'); // this file itself was loaded as TypeScript

/** True when `url` names a TypeScript module (.ts, .mts, .cts). */
export function isTypeScriptModule(url: string): boolean {
  return /\.[cm]?ts$/.test(new URL(url).pathname);
}

/** Makes sure a TypeScript module can be imported: registers tsx's loader when needed. */
export async function ensureTypeScriptLoader(url: string): Promise<void> {
  if (registered) return;
  let api: { register: () => unknown };
  try {
    api = (await import('tsx/esm/api')) as { register: () => unknown };
  } catch {
    throw new UserError(
      `${url} is TypeScript, which needs tsx to load: install it (npm install --save-dev tsx) or compile the module to JavaScript`,
    );
  }
  api.register();
  registered = true;
}
