// Reading a run folder's store in a test: opened read-only, closed whatever the callback does.
import { Store } from '../../src/pipeline/store.ts';

export function withStore<T>(dir: string, f: (s: Store) => T): T {
  const s = Store.openReadOnly(dir)!;
  try {
    return f(s);
  } finally {
    s.close();
  }
}
