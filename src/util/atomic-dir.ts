// Writing a whole folder atomically: its files go into a staging folder beside the target
// (`.NAME.partial-PID`), which is then renamed into place, so a reader never sees half a folder and an
// interrupted writer leaves only a staging folder, removed by the next writer of the same target.
// Reference: DVC's and git's write-to-temporary-then-rename.

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isProcessAlive } from './process.ts';

/**
 * Removes the staging folders (`.NAME.partial-PID`) that a killed writer of the same target left
 * behind; the folder of a writer still running is left alone.
 */
export function removeStaleStaging(target: string): void {
  const prefix = `.${basename(target)}.partial-`;
  for (const name of readdirSync(dirname(target))) {
    if (!name.startsWith(prefix) || !/^\d+$/.test(name.slice(prefix.length))) continue;
    const pid = Number(name.slice(prefix.length));
    if (pid === process.pid || !isProcessAlive(pid))
      rmSync(join(dirname(target), name), { recursive: true, force: true });
  }
}

/**
 * Fills a staging folder with `write`, then renames it to `out`, replacing an existing `out` (the
 * caller decides whether that is allowed). When `write` throws, the staging folder is removed.
 */
export function writeDirAtomic(out: string, write: (dir: string) => void): void {
  const target = resolve(out);
  const exists = existsSync(target);
  mkdirSync(dirname(target), { recursive: true });
  removeStaleStaging(target);
  const staging = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  try {
    write(staging);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  if (exists) {
    const old = join(dirname(target), `.${basename(target)}.old-${process.pid}`);
    renameSync(target, old);
    renameSync(staging, target);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(staging, target);
}
