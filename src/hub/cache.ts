// Hugging Face model ids and the local cache that huggingface_hub (and so transformers and
// `huggingface-cli download`) keeps, read and written with the same layout, so a model fetched by
// one is found by the other without a copy. Reference: huggingface_hub's file_download.py and
// constants.py, and its guide "Understand caching" (https://huggingface.co/docs/huggingface_hub/guides/manage-cache):
//
//   <cache>/models--<org>--<name>/
//     refs/<revision>                    the commit hash a branch or tag pointed to when last resolved
//     blobs/<etag>                       file contents, named by the hub's ETag: the SHA-256 of an LFS
//                                        file, the git blob SHA-1 of a small one
//     blobs/<etag>.incomplete            a download in progress (resumed from its length)
//     snapshots/<commit>/<path>          relative symlinks into ../../blobs (one folder per commit)
//
// The cache folder is HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else HF_HOME/hub,
// else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub, exactly as constants.py
// resolves it; the environment is handed in (nothing below the CLI reads process.env).
// Which files a model needs is decided here too (`neededFiles`): config.json, the tokenizer files
// that exist, and the first complete weight layout in from_pretrained's order, the order the loader
// reads them (src/model/checkpoint/source.ts).

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { ConfigError } from '../errors.ts';

/** The environment variables the hub code reads (a plain object; the CLI passes process.env). */
export type HubEnvVars = Readonly<Record<string, string | undefined>>;

/** Where models are cached, and how the hub is reached. */
export interface HubSettings {
  /** The cache folder (models--org--name/ folders live here). */
  readonly cacheDir: string;
  /** The hub's base URL, no trailing slash (HF_ENDPOINT, default https://huggingface.co). */
  readonly endpoint: string;
  /** HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), for gated and private models. */
  readonly token: string | null;
  /** HF_HUB_OFFLINE=1: never touch the network; only the cache. */
  readonly offline: boolean;
}

const TRUE = new Set(['1', 'ON', 'YES', 'TRUE']);

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/** The cache folder as huggingface_hub's constants.py resolves it. */
export function hubCacheDir(env: HubEnvVars): string {
  const explicit = env['HF_HUB_CACHE'] ?? env['HUGGINGFACE_HUB_CACHE'];
  if (explicit) return expandHome(explicit);
  const hfHome = env['HF_HOME']
    ? expandHome(env['HF_HOME'])
    : join(env['XDG_CACHE_HOME'] ? expandHome(env['XDG_CACHE_HOME']) : join(homedir(), '.cache'), 'huggingface');
  return join(hfHome, 'hub');
}

/** Cache folder, endpoint, token and offline switch from the environment. */
export function hubSettings(env: HubEnvVars): HubSettings {
  return Object.freeze({
    cacheDir: hubCacheDir(env),
    endpoint: (env['HF_ENDPOINT'] || 'https://huggingface.co').replace(/\/+$/, ''),
    token: env['HF_TOKEN'] || env['HUGGING_FACE_HUB_TOKEN'] || null,
    offline: TRUE.has((env['HF_HUB_OFFLINE'] ?? '').toUpperCase()),
  });
}

/** A model on the hub: `org/name`, at a branch, tag or commit (default `main`). */
export interface ModelId {
  readonly repo: string;
  readonly revision: string;
  /** The revision was given (`@…`), not defaulted. */
  readonly pinned: boolean;
}

// huggingface_hub's validate_repo_id: letters, digits, '-', '_', '.', no '--' or '..', no leading or
// trailing '-' or '.', at most 96 characters per part.
const PART = /^(?![-.])(?!.*--)(?!.*\.\.)[\w.-]{1,96}(?<![-.])$/;

/**
 * `org/name` or `org/name@revision` as a ModelId, or null when `ref` is not of that form (a path
 * such as `./m`, `../m`, `/abs/m`, `~/m` or `a/b/c` never is). Whether an existing folder of that
 * name wins is the caller's decision (it does, as in from_pretrained).
 */
export function parseModelId(ref: string): ModelId | null {
  const at = ref.indexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? 'main' : ref.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => PART.test(p))) return null;
  if (at >= 0 && (revision === '' || /\s|\.\./.test(revision) || revision.startsWith('/'))) {
    throw new ConfigError(
      `model id ${ref}: the revision after '@' must be a branch, tag or commit hash, e.g. ${repo}@main`,
    );
  }
  return Object.freeze({ repo, revision, pinned: at >= 0 });
}

export function formatModelId(id: ModelId): string {
  return id.pinned ? `${id.repo}@${id.revision}` : id.repo;
}

export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** `<cache>/models--org--name`. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

/** The commit a revision stands for in the cache: itself when it is a commit, else refs/<revision>. */
export function cachedCommit(cacheDir: string, id: ModelId): string | null {
  if (COMMIT_RE.test(id.revision)) return id.revision;
  const ref = join(repoFolder(cacheDir, id.repo), 'refs', ...id.revision.split('/'));
  if (!existsSync(ref)) return null;
  const commit = readFileSync(ref, 'utf8').trim();
  return COMMIT_RE.test(commit) ? commit : null;
}

export function snapshotDir(cacheDir: string, repo: string, commit: string): string {
  return join(repoFolder(cacheDir, repo), 'snapshots', commit);
}

// ------------------------------------------------------------------ which files a model needs

/** Tokenizer and generation files fetched when the repository has them (the loader's readers use them). */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'generation_config.json',
];

/** Weight layouts in from_pretrained's order (src/model/checkpoint/source.ts reads the same). */
export const WEIGHT_LAYOUTS = [
  { file: 'model.safetensors', index: false },
  { file: 'model.safetensors.index.json', index: true },
  { file: 'pytorch_model.bin', index: false },
  { file: 'pytorch_model.bin.index.json', index: true },
] as const;

/** The files of a model folder, in two steps: the files known without an index, then the shards an index names. */
export interface NeededFiles {
  /** config.json, tokenizer files present, and the weight file or index chosen. */
  readonly files: string[];
  /** The index file among them whose shards are still to be added (read it, then call `shardsOf`), or null. */
  readonly index: string | null;
}

/**
 * Chooses from a repository's (or snapshot's) file list what langquant needs; throws naming what
 * is missing when there is no config.json or no weight file in any layout the loader reads.
 */
export function neededFiles(available: readonly string[], what: string): NeededFiles {
  const have = new Set(available);
  if (!have.has('config.json'))
    throw new ConfigError(`${what} has no config.json; it is not a transformers model langquant can load`);
  const layout = WEIGHT_LAYOUTS.find((l) => have.has(l.file));
  if (!layout) {
    throw new ConfigError(
      `${what} has none of ${WEIGHT_LAYOUTS.map((l) => l.file).join(', ')}; langquant reads safetensors or pytorch_model.bin weights`,
    );
  }
  return {
    files: ['config.json', ...TOKENIZER_FILES.filter((f) => have.has(f)), layout.file],
    index: layout.index ? layout.file : null,
  };
}

/**
 * The shard files a weight index names (its weight_map's values), sorted, each checked to stay inside the repository.
 */
export function shardsOf(indexText: string, indexName: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(indexText);
  } catch (e) {
    throw new ConfigError(`${indexName} is not valid JSON (${(e as Error).message}); download it again`);
  }
  const map = (parsed as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null)
    throw new ConfigError(`${indexName} has no weight_map; download it again`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shards) {
    if (typeof s !== 'string' || s.startsWith('/') || s.split('/').includes('..'))
      throw new ConfigError(`${indexName} names a shard ${JSON.stringify(s)} outside the repository; refusing it`);
  }
  return (shards as string[]).sort();
}

// ------------------------------------------------------------------ reading a snapshot

/** One file of a snapshot and the blob it points to. */
export interface SnapshotFile {
  readonly path: string;
  /** The blob's name (the hub's ETag), or null when the file is a plain copy, not a link into blobs/. */
  readonly etag: string | null;
}

/** Every file below a snapshot folder (links followed to their blob name), relative paths with '/'. */
export function listSnapshot(dir: string): SnapshotFile[] {
  const out: SnapshotFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p).split(sep).join('/');
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) {
        if (!existsSync(p)) continue; // a dangling link (blob deleted): as absent
        if (statSync(p).isDirectory()) walk(p);
        else out.push({ path: rel, etag: basename(readlinkSync(p)) });
      } else if (st.isFile()) out.push({ path: rel, etag: null });
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * The files a model needs from a cached snapshot, or the first one missing. Offline, this is all
 * that can be known: the layout is chosen from what the snapshot holds.
 */
export function snapshotNeeds(dir: string, what: string): { files: string[] } | { missing: string } {
  const present = listSnapshot(dir).map((f) => f.path);
  if (!present.includes('config.json')) return { missing: 'config.json' };
  let needed: NeededFiles;
  try {
    needed = neededFiles(present, what);
  } catch {
    return { missing: WEIGHT_LAYOUTS[0].file };
  }
  const files = [...needed.files];
  if (needed.index) {
    const shards = shardsOf(readFileSync(join(dir, needed.index), 'utf8'), `${what}/${needed.index}`);
    for (const s of shards) {
      if (!present.includes(s)) return { missing: s };
      files.push(s);
    }
  }
  return { files };
}
