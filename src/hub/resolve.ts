// A model reference → a local model folder. A folder that exists is used as it is (as
// from_pretrained does); otherwise `org/name[@revision]` is a Hugging Face model: the revision is
// resolved to a commit with @huggingface/hub's modelInfo (the model-info endpoint, which also lists
// the repository's files), the files langquant needs (cache.ts neededFiles) that the snapshot of that
// commit lacks are downloaded (download.ts), refs/<revision> is updated, and the snapshot folder is
// the model folder. A pinned commit already complete in the cache needs no network; with
// HF_HUB_OFFLINE=1 only the cache is read and a missing file is named. When the hub cannot be
// reached, a complete cached snapshot of the revision is used with a warning (as huggingface_hub does).
// `identity` — the commit and every needed file's blob hash — is what an experiment's fingerprint
// takes for the model, so a branch that moves reruns what depends on it, without rereading weights.

import { modelInfo } from '@huggingface/hub';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import {
  cachedCommit,
  COMMIT_RE,
  formatModelId,
  listSnapshot,
  neededFiles,
  parseModelId,
  repoFolder,
  shardsOf,
  snapshotDir,
  snapshotNeeds,
  type HubSettings,
  type ModelId,
} from './cache.ts';
import {
  downloadFile,
  fileMetadata,
  HubError,
  HubUnreachableError,
  statusError,
  unreachable,
  type DownloadOptions,
  type FetchFn,
} from './download.ts';

/** A hub model as found in (or brought into) the cache. */
export interface HubModel {
  /** As given: `org/name` or `org/name@revision`. */
  readonly id: string;
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  /** The snapshot folder: the model folder every loader reads. */
  readonly dir: string;
  /** Every needed file and its blob (the hub's hash; a SHA-256 of the bytes for plain copies). */
  readonly files: readonly { path: string; etag: string }[];
  /** SHA-256 over the repository, commit and files: the model's identity for fingerprints. */
  readonly identity: string;
}

export interface ResolveOptions extends DownloadOptions {
  /** Told when the cache is used because the hub could not be reached. */
  readonly onWarning?: (message: string) => void;
}

function identityOf(repo: string, commit: string, files: readonly { path: string; etag: string }[]): string {
  const h = createHash('sha256');
  h.update(`hf:${repo}\0${commit}\n`);
  for (const f of files) h.update(`${f.path}\0${f.etag}\n`);
  return h.digest('hex');
}

function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The model as the cache holds it, or the first file missing. Reads nothing from the network. */
export function fromCache(settings: HubSettings, id: ModelId): HubModel | { missing: string } {
  const commit = cachedCommit(settings.cacheDir, id);
  if (!commit) return { missing: `refs/${id.revision}` };
  const dir = snapshotDir(settings.cacheDir, id.repo, commit);
  const needs = snapshotNeeds(dir, formatModelId(id));
  if ('missing' in needs) return needs;
  const etags = new Map(listSnapshot(dir).map((f) => [f.path, f.etag]));
  const files = needs.files.map((path) => ({ path, etag: etags.get(path) ?? fileSha256(join(dir, path)) }));
  return {
    id: formatModelId(id),
    repo: id.repo,
    revision: id.revision,
    commit,
    dir,
    files,
    identity: identityOf(id.repo, commit, files),
  };
}

/** The message when the cache is all there is and it lacks `missing`. */
function offlineError(settings: HubSettings, id: ModelId, missing: string, why: string): CheckpointError {
  const where = repoFolder(settings.cacheDir, id.repo);
  const what = missing.startsWith('refs/')
    ? `no cached snapshot of ${formatModelId(id)} (${where}/${missing} is missing)`
    : `the cached snapshot of ${formatModelId(id)} lacks ${missing}`;
  return new CheckpointError(
    `${why}, and ${what}; run \`langquant download ${formatModelId(id)}\` where the hub is reachable${why.startsWith('HF_HUB_OFFLINE') ? ', or unset HF_HUB_OFFLINE' : ''}`,
  );
}

/** The revision's commit and the repository's file list, from the model-info endpoint. */
async function repoInfo(settings: HubSettings, id: ModelId, f: FetchFn): Promise<{ commit: string; files: string[] }> {
  // The token is added here rather than through modelInfo's accessToken, which only accepts
  // tokens that start with "hf_" (a mirror's may not).
  const authFetch: FetchFn = (url, init) =>
    f(url, {
      ...init,
      headers: {
        ...(init?.headers as Record<string, string> | undefined),
        ...(settings.token ? { Authorization: `Bearer ${settings.token}` } : {}),
      },
    });
  let info: { sha?: string; filePaths?: string[] };
  try {
    info = await modelInfo({
      name: id.repo,
      revision: id.revision,
      hubUrl: settings.endpoint,
      fetch: authFetch,
      additionalFields: ['sha', 'filePaths'],
    });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404) {
      throw new HubError(
        `${formatModelId(id)} was not found on ${settings.endpoint} (HTTP 404): check the model id (org/name)${id.pinned ? ` and the revision ${id.revision}` : ''}`,
        404,
      );
    }
    if (typeof status === 'number') throw statusError(settings, id.repo, 'its model info', status, null);
    throw unreachable(settings, e);
  }
  if (!info.sha || !COMMIT_RE.test(info.sha) || !Array.isArray(info.filePaths)) {
    throw new HubError(
      `${settings.endpoint} gave no commit or file list for ${formatModelId(id)} (is HF_ENDPOINT a Hugging Face hub?)`,
    );
  }
  return { commit: info.sha, files: info.filePaths };
}

function writeRef(settings: HubSettings, id: ModelId, commit: string): void {
  if (COMMIT_RE.test(id.revision)) return;
  const ref = join(repoFolder(settings.cacheDir, id.repo), 'refs', ...id.revision.split('/'));
  mkdirSync(dirname(ref), { recursive: true });
  const tmp = `${ref}.${process.pid}.tmp`;
  writeFileSync(tmp, commit);
  renameSync(tmp, ref);
}

/**
 * Brings a hub model into the cache (what is already there is not fetched again) and returns it.
 * Throws HubError (gated, missing, unreachable, damaged) or CheckpointError (offline and incomplete).
 */
export async function fetchModel(settings: HubSettings, id: ModelId, opts: ResolveOptions = {}): Promise<HubModel> {
  const cached = fromCache(settings, id);
  if (settings.offline) {
    if ('missing' in cached) throw offlineError(settings, id, cached.missing, 'HF_HUB_OFFLINE is set');
    return cached;
  }
  // A commit never moves: complete in the cache, it needs no request.
  if (COMMIT_RE.test(id.revision) && !('missing' in cached)) return cached;
  const f = opts.fetch ?? fetch;
  let info: { commit: string; files: string[] };
  try {
    info = await repoInfo(settings, id, f);
  } catch (e) {
    if (e instanceof HubUnreachableError && !('missing' in cached)) {
      opts.onWarning?.(`${e.message}; using the cached snapshot ${cached.commit.slice(0, 12)} of ${cached.id}`);
      return cached;
    }
    throw e;
  }
  const what = formatModelId(id);
  const needed = neededFiles(info.files, `${what} (commit ${info.commit.slice(0, 12)})`);
  const dir = snapshotDir(settings.cacheDir, id.repo, info.commit);
  const get = async (path: string) => {
    if (existsSync(join(dir, ...path.split('/')))) return;
    // Files are requested at the commit, so every file comes from the same snapshot even if the
    // branch moves meanwhile; the hub must agree on the commit.
    const meta = await fileMetadata(settings, id.repo, info.commit, path, opts);
    if (meta.commit !== info.commit)
      throw new HubError(
        `${what}: the hub answered commit ${meta.commit} for ${path} at commit ${info.commit}; try again`,
      );
    await downloadFile(settings, id.repo, meta, opts);
  };
  for (const path of needed.files) await get(path);
  if (needed.index) {
    const shards = shardsOf(readFileSync(join(dir, needed.index), 'utf8'), `${what}/${needed.index}`);
    const missing = shards.filter((s) => !info.files.includes(s));
    if (missing.length)
      throw new HubError(
        `${what}: ${needed.index} names ${missing[0]}, which the repository does not hold; the checkpoint is incomplete on the hub`,
      );
    for (const s of shards) await get(s);
  }
  writeRef(settings, id, info.commit);
  const done = fromCache(settings, { ...id, revision: info.commit });
  if ('missing' in done)
    throw new HubError(`${what}: ${done.missing} is still missing after the download; run the command again`);
  return { ...done, id: what, revision: id.revision };
}

/** A model reference resolved to a folder: a local one, or a hub model's snapshot. */
export type ModelRef =
  { readonly kind: 'folder'; readonly dir: string } | { readonly kind: 'hub'; readonly id: ModelId };

/**
 * Classifies `ref` (relative to `base`): an existing folder wins; else a hub id; else a folder (that the loader will
 * report missing).
 */
export function classifyModelRef(ref: string, base: string): ModelRef {
  const local = join(base, ref);
  const abs = ref.startsWith('/') ? ref : local;
  if (existsSync(abs) && statSync(abs).isDirectory()) return { kind: 'folder', dir: abs };
  const id = parseModelId(ref);
  return id ? { kind: 'hub', id } : { kind: 'folder', dir: abs };
}
