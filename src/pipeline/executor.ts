// Executors: where a replicate's child process runs. The runner writes a job file, submits it, polls
// the job's state, cancels it at its deadline or on Ctrl-C, and after a restart adopts the jobs a
// killed orchestrator left running. `local` runs the child as a process of this one (today's
// behaviour); `slurm` (slurm.ts) runs it as an sbatch job. Both run the same entry point
// (child-entry.mjs) on the same job file, and neither knows what an experiment computes.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The child process entry point that every executor runs on a job file. */
// Compiled (dist/): the child is child.js itself. From the sources (tests, through tsx):
// child-entry.mjs, which registers the TypeScript loader and then imports child.ts.
export const CHILD_ENTRY = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './child-entry.mjs' : './child.js', import.meta.url),
);

export type ExecutorName = 'local' | 'slurm';
export const EXECUTORS: readonly ExecutorName[] = ['local', 'slurm'];

/** Slurm resources of an experiment (pipeline-wide `slurm:`, the experiment's, then --slurm-opt). */
export interface SlurmResources {
  partition?: string;
  account?: string;
  qos?: string;
  cpus?: number; // --cpus-per-task
  mem?: string; // --mem, e.g. 16G
  gres?: string; // e.g. gpu:1
  constraint?: string;
  extra?: string[]; // more sbatch options, verbatim, e.g. ['--exclusive']
}

/** One replicate's job, as the runner hands it to an executor. All paths absolute. */
export interface JobRequest {
  /** `<experiment>.r<k>`: names the Slurm job and the files. */
  name: string;
  jobFile: string; // written by the runner before submit
  resultFile: string; // written by the child
  progressFile: string; // written by a child without an IPC channel
  logFile: string; // stdout and stderr are appended to it
  cwd: string;
  timeoutMs: number;
  killGraceMs: number;
  slurm: SlurmResources;
}

/** How a job ended, in the executor's own terms; the runner turns it into an attempt status. */
export interface JobEnd {
  exitCode: number | null;
  signal: string | null;
  /** The job could not be started at all (spawn error, sbatch refused it). */
  startError: string | null;
  /** Slurm's verdict (state, reason, ExitCode) when the job ran under Slurm. */
  slurm: { state: string; reason: string | null; exitCode: string | null } | null;
}

/**
 * A job's state at one poll. `stopping`: signalled and dying (Slurm's COMPLETING), not yet ended.
 * `state` is the executor's own word for it (Slurm's JobState; local: RUNNING, EXITED).
 */
export type JobState =
  | { phase: 'queued' | 'running' | 'stopping'; state: string }
  | { phase: 'ended'; state: string; end: JobEnd }
  | { phase: 'unknown'; state: string }; // the executor no longer knows the job (e.g. purged by Slurm)

export interface Executor {
  readonly name: ExecutorName;
  /** Submits a job whose job file is written; returns its id (a pid, a Slurm job id). */
  submit(job: JobRequest, onProgress: (p: { label: string; done: number; total: number }) => void): Promise<string>;
  /** The job's state now. */
  poll(id: string): Promise<JobState>;
  /** How long the runner waits before polling again a job `ageMs` old. */
  pollDelayMs(ageMs: number): number;
  /** Resolves when the job may have changed state (local: at once on exit), else after `ms`. */
  wait(id: string, ms: number): Promise<void>;
  /** Asks the job to stop (SIGTERM, or scancel), or kills it at once ('kill'). */
  cancel(id: string, how: 'term' | 'kill'): Promise<void>;
  /**
   * Takes over a job that a previous, killed orchestrator submitted: true when this executor can
   * watch it from here (its progress reported through `onProgress`). A local child dies with its
   * orchestrator, so `local` never can.
   */
  adopt(
    id: string,
    job: JobRequest,
    onProgress: (p: { label: string; done: number; total: number }) => void,
  ): Promise<boolean>;
  /** How long a result file may take to appear after its job ended (a network filesystem's lag). */
  readonly resultLagMs: number;
  /** Forgets an ended job. */
  release(id: string): void;
}

/** Runs each job as a child process of this orchestrator, in its own process group. */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  readonly resultLagMs = 0;
  private readonly jobs = new Map<string, { child: ChildProcess; end: JobEnd | null; ended: Promise<void> }>();

  async submit(
    job: JobRequest,
    onProgress: (p: { label: string; done: number; total: number }) => void,
  ): Promise<string> {
    const logFd = openSync(job.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [CHILD_ENTRY, job.jobFile], {
        cwd: job.cwd,
        detached: true,
        stdio: ['ignore', logFd, logFd, 'ipc'],
      });
    } finally {
      closeSync(logFd); // the child holds its own copy
    }
    const rec: { child: ChildProcess; end: JobEnd | null; ended: Promise<void> } = {
      child,
      end: null,
      ended: Promise.resolve(),
    };
    rec.ended = new Promise<void>((res) => {
      child.on('error', (err) => {
        rec.end ??= {
          exitCode: null,
          signal: null,
          startError: `could not start the child process: ${err.message}`,
          slurm: null,
        };
        res();
      });
      child.on('exit', (code, signal) => {
        rec.end ??= { exitCode: code, signal, startError: null, slurm: null };
        res();
      });
    });
    child.on('message', (m: { type?: string; label?: string; done?: number; total?: number }) => {
      if (m?.type === 'progress') onProgress({ label: String(m.label), done: Number(m.done), total: Number(m.total) });
    });
    // A pid is known once spawned; a failed spawn has none and ends at once.
    const id = child.pid !== undefined ? String(child.pid) : `failed-${this.jobs.size}-${Date.now()}`;
    this.jobs.set(id, rec);
    return id;
  }

  async poll(id: string): Promise<JobState> {
    const rec = this.jobs.get(id);
    if (!rec) return { phase: 'unknown', state: 'UNKNOWN' };
    return rec.end ? { phase: 'ended', state: 'EXITED', end: rec.end } : { phase: 'running', state: 'RUNNING' };
  }

  pollDelayMs(): number {
    return 1000; // wait() returns at once when the child exits
  }

  async wait(id: string, ms: number): Promise<void> {
    const rec = this.jobs.get(id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([rec?.ended ?? Promise.resolve(), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  async cancel(id: string, how: 'term' | 'kill'): Promise<void> {
    const rec = this.jobs.get(id);
    if (!rec || rec.end) return;
    const sig = how === 'term' ? 'SIGTERM' : 'SIGKILL';
    try {
      process.kill(-rec.child.pid!, sig); // the child's whole process group (it was spawned detached)
    } catch {
      try {
        rec.child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  }

  async adopt(): Promise<boolean> {
    return false;
  }

  release(id: string): void {
    this.jobs.delete(id);
  }
}
