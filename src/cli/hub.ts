// Model references on the command line: a folder, or a Hugging Face id `org/name[@revision]` that
// is looked up in (and, when needed, downloaded into) the huggingface_hub cache (src/hub). This is
// where the hub's environment variables are read (HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN,
// HF_HUB_OFFLINE) and where download progress is drawn: a bar per file with bytes, speed and ETA on
// a terminal, one line per finished file otherwise, always on stderr (stdout carries results).

import cliProgress from 'cli-progress';
import { ConfigError } from '../errors.ts';
import { hubSettings, parseModelId, type HubSettings } from '../hub/cache.ts';
import type { FileProgress } from '../hub/download.ts';
import { classifyModelRef, fetchModel, fromCache, type HubModel } from '../hub/resolve.ts';

/** The hub settings from this process's environment. */
export function cliHubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  return hubSettings(env);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** A progress sink for downloads, on `out` (stderr by default). */
export function downloadProgress(out: NodeJS.WriteStream = process.stderr): {
  onProgress: (p: FileProgress) => void;
  stop: () => void;
} {
  const tty = Boolean(out.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let current = '';
  let startedAt = 0;
  let startBytes = 0;
  const speed = (bytes: number) => {
    const s = (Date.now() - startedAt) / 1000;
    return s > 0 ? `${formatBytes((bytes - startBytes) / s)}/s` : '…';
  };
  const onProgress = (p: FileProgress) => {
    const key = `${p.repo}/${p.path}`;
    if (key !== current) {
      bar?.stop();
      bar = null;
      current = key;
      startedAt = Date.now();
      startBytes = p.resumedFrom;
      if (p.done && p.bytes === p.total && p.resumedFrom === p.total) return; // already cached: nothing to say
      if (tty) {
        bar = new cliProgress.SingleBar(
          {
            stream: out,
            format: `  ${p.path} [{bar}] {percentage}% {have}/{size} {speed} ETA {eta_formatted}`,
            hideCursor: true,
            barsize: 24,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.total, p.bytes, { have: formatBytes(p.bytes), size: formatBytes(p.total), speed: '…' });
      } else if (p.resumedFrom > 0)
        out.write(
          `langquant: resuming ${p.path} of ${p.repo} at ${formatBytes(p.resumedFrom)} of ${formatBytes(p.total)}\n`,
        );
    }
    if (bar) bar.update(p.bytes, { have: formatBytes(p.bytes), size: formatBytes(p.total), speed: speed(p.bytes) });
    if (p.done) {
      if (bar) {
        bar.stop();
        bar = null;
      } else if (!(p.resumedFrom === p.total && startBytes === p.total)) {
        out.write(`langquant: fetched ${p.path} of ${p.repo} (${formatBytes(p.total)}, ${speed(p.bytes)})\n`);
      }
      current = '';
    }
  };
  return { onProgress, stop: () => bar?.stop() };
}

/** The hub model `id` brought into the cache (downloads shown on stderr). */
export async function fetchHubModel(ref: string, settings = cliHubSettings()): Promise<HubModel> {
  const id = parseModelId(ref);
  if (!id) throw new ConfigError(`${ref} is not a Hugging Face model id; write org/name or org/name@revision`);
  const progress = downloadProgress();
  try {
    return await fetchModel(settings, id, {
      onProgress: progress.onProgress,
      onWarning: (m) => process.stderr.write(`langquant: ${m}\n`),
    });
  } finally {
    progress.stop();
  }
}

/**
 * The folder a `--model` value stands for: an existing folder as it is; a hub id's snapshot folder,
 * downloaded when needed; anything else unchanged (the loader then says what is missing).
 */
export async function modelFolder(ref: string, base = process.cwd()): Promise<string> {
  const r = classifyModelRef(ref, base);
  if (r.kind === 'folder') return ref;
  return (await fetchHubModel(ref)).dir;
}

/**
 * For a pipeline (which knows nothing of the hub): a hub id found in the cache, without network —
 * its snapshot folder and identity — or what is missing. Null for a folder reference.
 */
export function cachedModelRef(
  ref: string,
  base: string,
  settings = cliHubSettings(),
): { path: string; identity: string | null; problem: string | null } | null {
  const r = classifyModelRef(ref, base);
  if (r.kind === 'folder') return null;
  const m = fromCache(settings, r.id);
  if ('missing' in m) {
    return {
      path: ref,
      identity: null,
      problem: `Hugging Face model ${ref} is not in the cache ${settings.cacheDir} (missing ${m.missing}): run \`langquant download ${ref}\`, or \`langquant run\`, which downloads it`,
    };
  }
  return { path: m.dir, identity: m.identity, problem: null };
}
