// Streaming a file's bytes into a hash in 4 MiB chunks: the content hashes of the pipeline's
// fingerprints (pipeline/hash.ts) and the hub's download checks (hub/download.ts) read files this way.

import type { Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** Feeds every byte of `path` to `h`, 4 MiB at a time, and returns `h` (not yet digested). */
export function updateWithFile(h: Hash, path: string): Hash {
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h;
}
