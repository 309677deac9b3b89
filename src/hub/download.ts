// Fetching one file of a hub repository into the huggingface_hub cache (cache.ts): resumable,
// verified against the hub's hash before it enters the cache, written atomically.
//
// Why not @huggingface/hub's downloadFileToCacheDir (v2.17.5, the library this project prefers and
// whose modelInfo resolve.ts uses): it restarts every interrupted download from zero (the
// `.incomplete` file is truncated), never checks the bytes against the hub's SHA-256, names the
// snapshot folder after the *file's* last commit rather than the revision's commit and writes no
// refs/<branch> file (so huggingface_hub would not find the model under its branch), has no
// progress callback, and reads process.env for the cache folder; its fileDownloadInfo follows
// redirects, so it reads the CDN's headers instead of the hub's X-Linked-Etag and X-Repo-Commit.
// So the HTTP part is written here, as huggingface_hub's file_download.py does it:
//   1. HEAD <endpoint>/<repo>/resolve/<commit>/<path> without following absolute redirects (a
//      relative one, a renamed repository, is followed): X-Repo-Commit names the commit,
//      X-Linked-Etag (LFS files: the SHA-256 of the contents) or ETag (small files: the git blob
//      SHA-1) the blob, X-Linked-Size or Content-Length its size, Location where the bytes are.
//   2. GET the bytes into blobs/<etag>.incomplete, from its current length with `Range:` when a
//      previous attempt left part of it (a dropped connection is retried the same way).
//   3. Check size and hash: SHA-256 for a 64-hex ETag, git's SHA-1 of "blob <size>\0" + bytes for
//      a 40-hex one. A mismatch deletes the partial file and fails; a match renames it to
//      blobs/<etag> (atomic), then snapshots/<commit>/<path> becomes a relative link to it.
// The token goes only to the hub's own origin, never to the CDN a download is redirected to.

import { createHash } from 'node:crypto';
import { updateWithFile } from '../util/file-digest.ts';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { UserError } from '../errors.ts';
import { repoFolder, snapshotDir, type HubSettings } from './cache.ts';

/** A hub request that failed: gated, missing, unreachable, or bytes that do not match their hash. */
export class HubError extends UserError {
  /** HTTP status when the hub answered, null for a network failure or a bad download. */
  readonly status: number | null;
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = 'HubError';
    this.status = status;
  }
}

/** A network failure (no HTTP answer): the caller may fall back to the cache. */
export class HubUnreachableError extends HubError {
  constructor(message: string) {
    super(message, null);
    this.name = 'HubUnreachableError';
  }
}

export type FetchFn = typeof fetch;

/** Progress of one file: bytes on disk so far (a resumed part included) of `total`. */
export interface FileProgress {
  readonly repo: string;
  readonly path: string;
  readonly bytes: number;
  readonly total: number;
  /** Bytes that were already there when this attempt began (resumed). */
  readonly resumedFrom: number;
  readonly done: boolean;
}

export interface DownloadOptions {
  readonly fetch?: FetchFn;
  readonly onProgress?: (p: FileProgress) => void;
  /** Further attempts after a dropped connection, each resuming where the last stopped (default 4). */
  readonly retries?: number;
  /** Wait before a retry, ms (default 500, doubled each time). */
  readonly retryDelayMs?: number;
}

/** What the hub says about one file at one commit. */
export interface RemoteFile {
  readonly path: string;
  readonly commit: string;
  readonly etag: string;
  readonly size: number;
  /** Where the bytes are (the resolve URL, or the CDN it redirects to). */
  readonly url: string;
}

/** Headers with the token, for requests to the hub's own origin only. */
export function authHeaders(settings: HubSettings, url: string): Record<string, string> {
  if (!settings.token) return {};
  return new URL(url).origin === new URL(settings.endpoint).origin ? { Authorization: `Bearer ${settings.token}` } : {};
}

function resolveUrl(settings: HubSettings, repo: string, revision: string, path: string): string {
  return `${settings.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** The message for an HTTP failure from the hub, naming what to do. */
export function statusError(
  settings: HubSettings,
  repo: string,
  what: string,
  status: number,
  errorCode: string | null,
): HubError {
  if (status === 401 || status === 403) {
    return new HubError(
      `${repo} is gated or private (HTTP ${status} for ${what}): accept its terms on ${settings.endpoint}/${repo} and set HF_TOKEN to an access token that may read it${settings.token ? ' (the HF_TOKEN set was refused)' : ''}`,
      status,
    );
  }
  if (status === 404) {
    if (errorCode === 'RevisionNotFound')
      return new HubError(
        `${repo} has no revision for ${what} (HTTP 404); check the branch, tag or commit after '@'`,
        status,
      );
    if (errorCode === 'EntryNotFound')
      return new HubError(
        `${repo} has no file ${what} (HTTP 404); the repository does not hold it at this revision`,
        status,
      );
    return new HubError(
      `${what}: ${repo} was not found on ${settings.endpoint} (HTTP 404); check the model id (org/name)`,
      status,
    );
  }
  return new HubError(`${settings.endpoint} answered HTTP ${status} for ${what} of ${repo}; try again later`, status);
}

export function unreachable(settings: HubSettings, e: unknown): HubUnreachableError {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
  return new HubUnreachableError(
    `cannot reach ${settings.endpoint} (${why}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`,
  );
}

function stripEtag(v: string): string {
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Step 1: the file's commit, ETag, size and download URL, from a HEAD on its resolve URL. */
export async function fileMetadata(
  settings: HubSettings,
  repo: string,
  revision: string,
  path: string,
  opts: DownloadOptions = {},
): Promise<RemoteFile> {
  const f = opts.fetch ?? fetch;
  let url = resolveUrl(settings, repo, revision, path);
  for (let hop = 0; hop < 10; hop++) {
    let res: Response;
    try {
      res = await f(url, {
        method: 'HEAD',
        redirect: 'manual',
        headers: { ...authHeaders(settings, url), 'Accept-Encoding': 'identity' },
      });
    } catch (e) {
      throw unreachable(settings, e);
    }
    const h = res.headers;
    if (res.status >= 300 && res.status < 400) {
      const loc = h.get('location');
      if (!loc)
        throw new HubError(
          `${settings.endpoint} redirected ${path} of ${repo} without a Location; try again later`,
          res.status,
        );
      // A relative redirect (a renamed repository) is followed for the metadata; an absolute one
      // leads to the file's storage, and the metadata are this response's.
      if (loc.startsWith('/')) {
        url = new URL(loc, url).toString();
        continue;
      }
      return metadataFrom(settings, repo, path, h, loc);
    }
    if (!res.ok) throw statusError(settings, repo, path, res.status, h.get('x-error-code'));
    return metadataFrom(settings, repo, path, h, url);
  }
  throw new HubError(`${settings.endpoint} redirected ${path} of ${repo} more than 10 times; try again later`);
}

function metadataFrom(settings: HubSettings, repo: string, path: string, h: Headers, url: string): RemoteFile {
  const commit = h.get('x-repo-commit');
  const etag = h.get('x-linked-etag') ?? h.get('etag');
  const size = Number(h.get('x-linked-size') ?? h.get('content-length'));
  if (!commit || !etag || !Number.isSafeInteger(size) || size < 0) {
    throw new HubError(
      `${settings.endpoint} gave no commit, ETag or size for ${path} of ${repo} (is HF_ENDPOINT a Hugging Face hub?)`,
    );
  }
  return { path, commit, etag: stripEtag(etag), size, url };
}

/** How a blob's name checks its bytes. */
export function hashKind(etag: string): 'sha256' | 'git-sha1' | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(etag)) return 'git-sha1';
  return null;
}

/** SHA-256 (LFS) or git blob SHA-1 (small files) of a file on disk, hex. */
export function fileDigest(path: string, kind: 'sha256' | 'git-sha1', size: number): string {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') h.update(`blob ${size}\0`);
  return updateWithFile(h, path).digest('hex');
}

/** A relative symlink `link` → `target`, replacing what was there atomically (a new link, then a rename). */
export function linkAtomically(target: string, link: string): void {
  mkdirSync(dirname(link), { recursive: true });
  const tmp = `${link}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(relative(dirname(link), target), tmp);
  renameSync(tmp, link);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Steps 2–3: the blob of `file` in the cache of `repo`, downloaded (resumed) when absent and
 * verified, then linked from snapshots/<commit>/<path>. Returns the snapshot path.
 */
export async function downloadFile(
  settings: HubSettings,
  repo: string,
  file: RemoteFile,
  opts: DownloadOptions = {},
): Promise<string> {
  const f = opts.fetch ?? fetch;
  const root = repoFolder(settings.cacheDir, repo);
  const blob = join(root, 'blobs', file.etag);
  const link = join(snapshotDir(settings.cacheDir, repo, file.commit), ...file.path.split('/'));
  const progress = (bytes: number, resumedFrom: number, done: boolean) =>
    opts.onProgress?.({ repo, path: file.path, bytes, total: file.size, resumedFrom, done });
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    const part = `${blob}.incomplete`;
    const retries = opts.retries ?? 4;
    let delay = opts.retryDelayMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      let start = existsSync(part) ? statSync(part).size : 0;
      if (start > file.size) {
        rmSync(part); // longer than the file: not a prefix of it
        start = 0;
      }
      if (start === file.size) break; // a previous run got every byte; verify below
      try {
        await fetchInto(f, settings, repo, file, part, start, (bytes) => progress(bytes, start, false));
        break;
      } catch (e) {
        if (e instanceof HubError && !(e instanceof HubUnreachableError)) throw e;
        if (attempt >= retries) {
          const have = existsSync(part) ? statSync(part).size : 0;
          throw new HubUnreachableError(
            `downloading ${file.path} of ${repo} failed ${attempt + 1} times (${(e as Error).message}); ${have} of ${file.size} bytes are kept in ${part} and the next run resumes from there`,
          );
        }
        await sleep(delay);
        delay *= 2;
      }
    }
    verify(repo, file, part);
    renameSync(part, blob);
  }
  linkAtomically(blob, link);
  progress(file.size, file.size, true);
  return link;
}

/** Appends bytes start.. of the file to `part` (or rewrites it when the server ignores Range). */
async function fetchInto(
  f: FetchFn,
  settings: HubSettings,
  repo: string,
  file: RemoteFile,
  part: string,
  start: number,
  onBytes: (n: number) => void,
): Promise<void> {
  const headers: Record<string, string> = { ...authHeaders(settings, file.url), 'Accept-Encoding': 'identity' };
  if (start > 0) headers['Range'] = `bytes=${start}-`;
  let res: Response;
  try {
    res = await f(file.url, { headers, redirect: 'follow' });
  } catch (e) {
    throw unreachable(settings, e);
  }
  let offset = start;
  if (res.status === 200)
    offset = 0; // Range ignored: the whole file comes again
  else if (res.status === 206) {
    const cr = res.headers.get('content-range') ?? '';
    if (!cr.startsWith(`bytes ${start}-`))
      throw new HubError(
        `${file.path} of ${repo}: the server resumed at "${cr}", not at byte ${start}; delete ${part} and try again`,
      );
  } else if (res.status === 416) {
    return; // nothing left to send: the part is whole (checked by the hash)
  } else {
    throw statusError(settings, repo, file.path, res.status, res.headers.get('x-error-code'));
  }
  const fd = openSync(part, offset === 0 ? 'w' : 'a');
  let bytes = offset;
  try {
    if (!res.body) throw new Error('empty body');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      writeSync(fd, chunk);
      bytes += chunk.length;
      onBytes(bytes);
    }
  } catch (e) {
    throw new HubUnreachableError(`connection lost after ${bytes} of ${file.size} bytes (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
  if (bytes < file.size) throw new HubUnreachableError(`connection closed after ${bytes} of ${file.size} bytes`);
}

/** Size and hash of a finished part; a mismatch deletes it and fails. */
function verify(repo: string, file: RemoteFile, part: string): void {
  const size = statSync(part).size;
  const fail = (why: string): never => {
    unlinkSync(part);
    throw new HubError(
      `${file.path} of ${repo}: ${why}; the download was discarded (nothing entered the cache) — run the command again, and if it repeats, the mirror (HF_ENDPOINT) serves damaged files`,
    );
  };
  if (size !== file.size) fail(`${size} bytes arrived but the hub announced ${file.size}`);
  const kind = hashKind(file.etag);
  if (kind === null) return; // an ETag that is no content hash (not the hub's): the size is all there is to check
  const digest = fileDigest(part, kind, size);
  if (digest !== file.etag)
    fail(`the bytes have ${kind === 'sha256' ? 'SHA-256' : 'git SHA-1'} ${digest}, but the hub announced ${file.etag}`);
}
