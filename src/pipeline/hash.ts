// Hashing for fingerprints: canonical JSON (sorted keys, so key order never changes a hash) and
// SHA-256 of files and folders (relative path + bytes of every file, in sorted order).
// Reference: DVC's stage cache key (a hash of command, inputs and parameters).

import { createHash } from 'node:crypto';
import { updateWithFile } from '../util/file-digest.ts';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** JSON with object keys sorted at every level; non-finite numbers spelled as strings. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return JSON.stringify(String(v));
    return v === undefined ? 'null' : JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v as object)
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** SHA-256 of one file's bytes, read in 4 MiB chunks. */
export function hashFile(path: string): string {
  return updateWithFile(createHash('sha256'), path).digest('hex');
}

/** Files below a folder (or the file itself), relative paths with '/' separators, sorted. */
export function listFiles(root: string): { rel: string; abs: string; size: number; mtimeMs: number }[] {
  const st = statSync(root);
  if (st.isFile()) return [{ rel: '', abs: root, size: st.size, mtimeMs: st.mtimeMs }];
  const out: { rel: string; abs: string; size: number; mtimeMs: number }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue; // .git, .cache and editor files are not content
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile())
        out.push({ rel: relative(root, p).split(sep).join('/'), abs: p, size: s.size, mtimeMs: s.mtimeMs });
    }
  };
  walk(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** A file's hash, possibly from a cache keyed by path, size and modification time. */
export interface HashCache {
  get(path: string, size: number, mtimeMs: number): string | undefined;
  put(path: string, size: number, mtimeMs: number, sha: string): void;
}

/** Content hash of a file or folder: every file's relative path and SHA-256, hashed together. */
export function contentHash(root: string, cache?: HashCache): string {
  const h = createHash('sha256');
  for (const f of listFiles(root)) {
    let fh = cache?.get(f.abs, f.size, f.mtimeMs);
    if (fh === undefined) {
      fh = hashFile(f.abs);
      cache?.put(f.abs, f.size, f.mtimeMs, fh);
    }
    h.update(`${f.rel}\0${fh}\n`);
  }
  return h.digest('hex');
}
