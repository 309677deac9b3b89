// The Slurm executor: each replicate is one sbatch job running the child entry point on the job file
// the orchestrator wrote into the run folder, which must therefore be on a filesystem the login node
// and the compute nodes share (the job checks that first, exiting 78 with a clear message if not).
// States are read with squeue (one call per poll for every job watched, finished ones included with
// `-t all`) and, once a job ended, `scontrol -o show job` for its ExitCode; no slurmdbd is needed.
// Finished jobs stay readable for MinJobAge (300 s by default); later Slurm forgets them and only the
// result file tells. Reference: Slurm 22.05 man pages of sbatch, squeue, scontrol, scancel, and the
// facts measured in ../shared/slurm/README.md.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { ConfigError } from '../errors.ts';
import {
  CHILD_ENTRY,
  type Executor,
  type JobEnd,
  type JobRequest,
  type JobState,
  type SlurmResources,
} from './executor.ts';
import { EXIT_NO_JOB_FILE, noJobFileMessage } from './protocol.ts';

/** The keys of `slurm:` in a pipeline file and of --slurm-opt. */
export const SLURM_KEYS = ['partition', 'account', 'qos', 'cpus', 'mem', 'gres', 'constraint', 'extra'] as const;

/** `--time` for a job: the timeout plus the kill grace, rounded up to whole minutes (Slurm's unit). */
export function slurmTimeMinutes(timeoutMs: number, killGraceMs: number): number {
  return Math.max(1, Math.ceil((timeoutMs + killGraceMs) / 60_000));
}

/** Later sources override earlier ones key by key; `extra` lists are concatenated. */
export function mergeSlurm(...layers: (SlurmResources | undefined)[]): SlurmResources {
  const out: SlurmResources = {};
  for (const l of layers) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l) as [keyof SlurmResources, unknown][]) {
      if (v === undefined) continue;
      if (k === 'extra') out.extra = [...(out.extra ?? []), ...(v as string[])];
      else (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/**
 * `--slurm-opt KEY=VALUE` values: a known key sets that resource; any other sbatch long option
 * (e.g. `time-min=5`, `exclusive`) is passed on as `--KEY=VALUE` (or `--KEY`).
 */
export function parseSlurmOpts(opts: readonly string[]): SlurmResources {
  const r: SlurmResources = {};
  for (const o of opts) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const value = eq < 0 ? null : o.slice(eq + 1);
    if (!/^[a-z][a-z0-9-]*$/.test(key))
      throw new ConfigError(
        `--slurm-opt ${o}: write KEY=VALUE with an sbatch long option as KEY, e.g. --slurm-opt partition=gpu`,
      );
    if (key === 'extra')
      throw new ConfigError(
        `--slurm-opt ${o}: give the sbatch option itself, e.g. --slurm-opt exclusive or --slurm-opt time-min=10`,
      );
    if ((SLURM_KEYS as readonly string[]).includes(key)) {
      if (value === null || value === '')
        throw new ConfigError(`--slurm-opt ${o}: ${key} needs a value, e.g. --slurm-opt ${key}=…`);
      if (key === 'cpus') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--slurm-opt ${o}: cpus is a whole number ≥ 1`);
        r.cpus = n;
      } else (r as Record<string, unknown>)[key] = value;
    } else {
      r.extra = [...(r.extra ?? []), value === null ? `--${key}` : `--${key}=${value}`];
    }
  }
  return r;
}

/** The sbatch command line for a job (without the program name); the script path comes last. */
export function sbatchArgs(job: JobRequest, script: string): string[] {
  const s = job.slurm;
  const args = [
    '--parsable',
    `--job-name=lq-${job.name}`,
    `--chdir=${job.cwd}`,
    `--output=${job.logFile}`,
    '--open-mode=append',
    `--time=${slurmTimeMinutes(job.timeoutMs, job.killGraceMs)}`,
  ];
  if (s.partition) args.push(`--partition=${s.partition}`);
  if (s.account) args.push(`--account=${s.account}`);
  if (s.qos) args.push(`--qos=${s.qos}`);
  if (s.cpus) args.push(`--cpus-per-task=${s.cpus}`);
  if (s.mem) args.push(`--mem=${s.mem}`);
  if (s.gres) args.push(`--gres=${s.gres}`);
  if (s.constraint) args.push(`--constraint=${s.constraint}`);
  args.push(...(s.extra ?? []), script);
  return args;
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The batch script: first confirm the job file is visible here, then run the child entry point on it. */
export function batchScript(job: JobRequest, node: string = process.execPath): string {
  const [before, after] = noJobFileMessage(job.jobFile, '\u0000').split('\u0000');
  return [
    '#!/bin/sh',
    `# langquant job ${job.name}: written by the orchestrator into the run folder and submitted with sbatch.`,
    `if [ ! -r ${sq(job.jobFile)} ]; then`,
    `  echo ${sq(before)}"$(hostname)"${sq(after)} >&2`,
    `  exit ${EXIT_NO_JOB_FILE}`,
    'fi',
    `exec ${sq(node)} ${sq(CHILD_ENTRY)} ${sq(job.jobFile)}`,
    '',
  ].join('\n');
}

const QUEUED = new Set([
  'PENDING',
  'CONFIGURING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
]);
const RUNNING = new Set(['RUNNING', 'SUSPENDED', 'STOPPED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);
const STOPPING = new Set(['COMPLETING']);

/** "3:0" → exit code 3; "0:15" → SIGTERM (Slurm's ExitCode is exit:signal). */
export function parseExitCode(s: string | null): { exitCode: number | null; signal: string | null } {
  const m = s ? /^(\d+):(\d+)$/.exec(s) : null;
  if (!m) return { exitCode: null, signal: null };
  const sig = Number(m[2]);
  const name =
    sig === 0 ? null : (Object.entries(constants.signals).find(([, n]) => n === sig)?.[0] ?? `signal ${sig}`);
  return { exitCode: sig === 0 ? Number(m[1]) : null, signal: name };
}

/** The fields of one `scontrol -o show job` line (Key=Value separated by spaces). */
export function parseScontrol(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  // Values may contain spaces only in a few fields (Command=, WorkDir= on odd paths); keys are CamelCase words.
  const re = /(?:^|\s)([A-Za-z][A-Za-z:/]*)=(.*?)(?=\s+[A-Za-z][A-Za-z:/]*=|\s*$)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out[m[1]] = m[2];
  return out;
}

/** A JobState (with Reason and, once ended, ExitCode) as the runner sees it. */
export function slurmJobState(state: string, reason: string | null, exitCode: string | null): JobState {
  const st = state.split(/[ +]/)[0];
  if (QUEUED.has(st)) return { phase: 'queued', state: st };
  if (RUNNING.has(st)) return { phase: 'running', state: st };
  if (STOPPING.has(st)) return { phase: 'stopping', state: st };
  const end: JobEnd = {
    ...parseExitCode(exitCode),
    startError: null,
    slurm: { state: st, reason: reason && reason !== 'None' ? reason : null, exitCode },
  };
  return { phase: 'ended', state: st, end };
}

interface Watched {
  job: JobRequest;
  onProgress: (p: { label: string; done: number; total: number }) => void;
  progress: string;
  ended: JobState | null;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : -1
        : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr || (err && code === -1 ? err.message : '')) });
    });
  });
}

/** Checks that the Slurm commands are on PATH (the login node of a cluster); throws a ConfigError if not. */
export async function checkSlurmAvailable(): Promise<void> {
  for (const cmd of ['sbatch', 'squeue', 'scontrol', 'scancel']) {
    const r = await run(cmd, ['--version'], 15_000);
    if (r.code !== 0)
      throw new ConfigError(
        `--executor slurm needs Slurm's ${cmd}, which ${r.code === -1 ? 'is not on PATH' : `failed: ${r.stderr.trim().split('\n')[0]}`}; run langquant on a login node of the cluster (or use --executor local)`,
      );
  }
}

export class SlurmExecutor implements Executor {
  readonly name = 'slurm' as const;
  /** A result file written on a node may take a moment to show on the login node (NFS attribute caches). */
  readonly resultLagMs = 10_000;
  private readonly watched = new Map<string, Watched>();
  private cache = new Map<string, JobState>();
  private cachedAt = 0;
  private refreshing: Promise<void> | null = null;

  async submit(
    job: JobRequest,
    onProgress: (p: { label: string; done: number; total: number }) => void,
  ): Promise<string> {
    const script = job.jobFile.replace(/\.json$/, '') + '.sbatch';
    writeFileSync(script, batchScript(job), { mode: 0o755 });
    const r = await run('sbatch', sbatchArgs(job, script));
    const id = r.stdout.trim().split(';')[0];
    if (r.code !== 0 || !/^\d+(_\d+)?$/.test(id))
      throw new Error(
        `sbatch refused the job: ${(r.stderr || r.stdout).trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${r.code}`}`,
      );
    this.watched.set(id, { job, onProgress, progress: '', ended: null });
    this.cachedAt = 0; // the next poll asks Slurm
    return id;
  }

  async poll(id: string): Promise<JobState> {
    const w = this.watched.get(id);
    if (w?.ended) return w.ended;
    if (Date.now() - this.cachedAt > 150 || !this.cache.has(id)) {
      // A refresh already in flight may have started before this job was submitted: then another.
      if (this.refreshing) await this.refreshing.catch(() => {});
      if (Date.now() - this.cachedAt > 150 || !this.cache.has(id)) await this.refresh(id);
    }
    // Not answered (the controller did not reply): still as last seen, asked again at the next poll.
    return this.cache.get(id) ?? { phase: 'queued', state: 'UNREACHABLE' };
  }

  /** One squeue call for every watched job (coalesced across concurrent polls), then scontrol for those that ended. */
  private async refresh(extra: string): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const ids = [...new Set([...[...this.watched].filter(([, w]) => !w.ended).map(([i]) => i), extra])];
      const next = new Map<string, JobState>();
      const r = await run('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%r']);
      if (r.code === 0) {
        for (const line of r.stdout.split('\n')) {
          const [i, st, reason] = line.trim().split('|');
          if (i && st) next.set(i, slurmJobState(st, reason ?? null, null));
        }
      }
      for (const i of ids) {
        const s = next.get(i);
        // Ended jobs (and any squeue did not answer for: it fails outright when one id is unknown)
        // are read one by one, with their ExitCode.
        if (s && s.phase !== 'ended') continue;
        next.set(i, await this.inspect(i));
      }
      for (const [i, s] of next) {
        this.cache.set(i, s);
        const w = this.watched.get(i);
        if (w && s.phase === 'ended') w.ended = s;
        if (w && s.phase === 'running') this.readProgress(w);
      }
      this.cachedAt = Date.now();
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  private async inspect(id: string): Promise<JobState> {
    const r = await run('scontrol', ['-o', 'show', 'job', id]);
    if (r.code !== 0) {
      if (/Invalid job id/i.test(r.stderr)) return { phase: 'unknown', state: 'UNKNOWN' };
      // The controller did not answer (restarting, overloaded): say nothing new, poll again later.
      return this.cache.get(id) ?? { phase: 'queued', state: 'UNREACHABLE' };
    }
    const f = parseScontrol(r.stdout.trim().split('\n')[0] ?? '');
    return f.JobState
      ? slurmJobState(f.JobState, f.Reason ?? null, f.ExitCode ?? null)
      : { phase: 'unknown', state: 'UNKNOWN' };
  }

  private readProgress(w: Watched): void {
    try {
      const text = readFileSync(w.job.progressFile, 'utf8');
      if (text === w.progress) return;
      w.progress = text;
      const p = JSON.parse(text) as { label: string; done: number; total: number };
      w.onProgress({ label: String(p.label), done: Number(p.done), total: Number(p.total) });
    } catch {
      /* none yet, or being replaced */
    }
  }

  pollDelayMs(ageMs: number): number {
    // Short jobs end quickly; long ones need not be asked about often (one squeue covers all jobs).
    return ageMs < 10_000 ? 250 : ageMs < 60_000 ? 1000 : 2000;
  }

  async wait(_id: string, ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
  }

  async cancel(id: string, how: 'term' | 'kill'): Promise<void> {
    // scancel: SIGTERM to every process of the job, SIGKILL after the cluster's KillWait. 'kill' does
    // not wait for that (the job may already be COMPLETING, when scancel answers with an error).
    await run('scancel', how === 'term' ? [id] : ['--signal=KILL', '--full', id]);
    this.cachedAt = 0;
  }

  async adopt(
    id: string,
    job: JobRequest,
    onProgress: (p: { label: string; done: number; total: number }) => void,
  ): Promise<boolean> {
    const s = await this.inspect(id);
    // Forgotten by Slurm (purged MinJobAge after it ended), or no answer (no Slurm here): not adoptable.
    if (s.phase === 'unknown' || s.state === 'UNREACHABLE') return false;
    this.watched.set(id, { job, onProgress, progress: '', ended: s.phase === 'ended' ? s : null });
    this.cache.set(id, s);
    return true;
  }

  release(id: string): void {
    this.watched.delete(id);
    this.cache.delete(id);
  }
}
