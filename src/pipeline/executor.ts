// Executors: where a replicate's child process runs. The runner writes a job file, submits it, polls
// the job's state, cancels it at its deadline or on Ctrl-C, and after a restart adopts the jobs a
// killed orchestrator left running. `local` runs the child as a process of this one (today's
// behaviour); `slurm` (slurm.ts) runs it as an sbatch job. Both run the same entry point
// (child-entry.mjs) on the same job file, and neither knows what an experiment computes.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkerJob } from './protocol.ts';

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
  /** Ends what the executor keeps between jobs (the local executor's idle workers); after the last job. */
  close?(): Promise<void>;
}

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /**
   * Run jobs in warm workers (default true): a worker process runs one job after another, so that
   * Node's start, the modules, onnxruntime's initialisation and the JIT's warm-up are paid once per
   * worker rather than once per replicate. false: a fresh process per job (the isolation of old).
   */
  reuse?: boolean;
  /** A worker whose resident memory is above this after a job leaves (default WORKER_MAX_RSS_BYTES). */
  maxWorkerRssBytes?: number;
}

/**
 * A worker leaves after a job that left it above 2 GiB resident: what a large model's job leaves
 * allocated (freed but not returned by the allocator) then goes back to the system instead of
 * staying with an idle process, and a big model's job, which gains little from a warm process, runs
 * in a fresh one.
 */
export const WORKER_MAX_RSS_BYTES = 2 * 1024 ** 3;

type Progress = (p: { label: string; done: number; total: number }) => void;

interface LocalJob {
  end: JobEnd | null;
  ended: Promise<void>;
  finish: (end: JobEnd) => void;
  /** The process running it: a one-shot child, or the worker it was given to. */
  child: ChildProcess;
}

interface Worker {
  child: ChildProcess;
  job: LocalJob | null;
  onProgress: Progress | null;
  /** The log file of the job it runs (or ran last): where its native output (fd 1 and 2) goes. */
  logFile: string | null;
  exited: boolean;
  /** Killed by cancel(): it never goes back to the pool, even if its last `done` is read after the kill. */
  doomed: boolean;
}

/**
 * Runs each job as a child process of this orchestrator, in its own process group: by default in a
 * pool of warm workers (child.ts --worker), else one fresh process per job. A job's timeout or
 * Ctrl-C kills the process running it (a worker then leaves the pool with it).
 */
export class LocalExecutor implements Executor {
  readonly name = 'local' as const;
  readonly resultLagMs = 0;
  private readonly jobs = new Map<string, LocalJob>();
  private readonly idle: Worker[] = [];
  private readonly workers = new Set<Worker>();
  private readonly reuse: boolean;
  private readonly maxRss: number;
  private seq = 0;

  constructor(opts: LocalExecutorOptions = {}) {
    this.reuse = opts.reuse ?? true;
    this.maxRss = opts.maxWorkerRssBytes ?? WORKER_MAX_RSS_BYTES;
  }

  async submit(job: JobRequest, onProgress: Progress): Promise<string> {
    return this.reuse ? this.submitToWorker(job, onProgress) : this.submitFresh(job, onProgress);
  }

  private newJob(child: ChildProcess): LocalJob {
    let finish: (end: JobEnd) => void = () => {};
    const rec: LocalJob = { end: null, ended: Promise.resolve(), finish: (e) => finish(e), child };
    rec.ended = new Promise<void>((res) => {
      finish = (end) => {
        rec.end ??= end;
        res();
      };
    });
    return rec;
  }

  private submitFresh(job: JobRequest, onProgress: Progress): string {
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
    const rec = this.newJob(child);
    child.on('error', (err) => rec.finish(startFailed(err)));
    child.on('exit', (code, signal) => rec.finish({ exitCode: code, signal, startError: null, slurm: null }));
    child.on('message', (m: unknown) => forwardProgress(m, onProgress));
    // A pid is known once spawned; a failed spawn has none and ends at once.
    const id = child.pid !== undefined ? String(child.pid) : `failed-${this.jobs.size}-${Date.now()}`;
    this.jobs.set(id, rec);
    return id;
  }

  private spawnWorker(): Worker {
    const child = spawn(process.execPath, [CHILD_ENTRY, '--worker'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const w: Worker = { child, job: null, onProgress: null, logFile: null, exited: false, doomed: false };
    // What the worker's JavaScript writes goes to the job's log file from the worker itself; native
    // code (onnxruntime, V8's fatal errors) writes to fd 1 and 2, which land in the same file here.
    const native = (chunk: Buffer) => {
      if (w.logFile === null) return;
      try {
        appendFileSync(w.logFile, chunk);
      } catch {
        /* the log is best effort */
      }
    };
    child.stdout!.on('data', native);
    child.stderr!.on('data', native);
    const gone = (end: JobEnd) => {
      w.exited = true;
      this.workers.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      w.job?.finish(end);
      w.job = null;
    };
    child.on('error', (err) => gone(startFailed(err)));
    child.on('exit', (code, signal) => gone({ exitCode: code, signal, startError: null, slurm: null }));
    child.on('message', (m: { type?: string; code?: number; retire?: boolean } | null) => {
      if (m?.type === 'progress' && w.onProgress) forwardProgress(m, w.onProgress);
      if (m?.type !== 'done' || !w.job) return;
      const job = w.job;
      w.job = null;
      w.onProgress = null;
      if (!m.retire && !w.exited && !w.doomed) {
        this.idle.push(w);
        setIdle(w.child, true);
      }
      job.finish({ exitCode: Number(m.code), signal: null, startError: null, slurm: null });
    });
    this.workers.add(w);
    return w;
  }

  private submitToWorker(job: JobRequest, onProgress: Progress): string {
    const w = this.idle.pop() ?? this.spawnWorker();
    const rec = this.newJob(w.child);
    const pid = w.child.pid;
    const id = pid !== undefined ? `${pid}.${++this.seq}` : `failed-${this.jobs.size}-${Date.now()}`;
    this.jobs.set(id, rec);
    this.handOver(w, rec, job, onProgress, true);
    return id;
  }

  /**
   * Gives `rec` to worker `w`. A failed spawn has no pid: its 'error' event (always after this call)
   * ends the job. A worker that died while idle (killed from outside, its exit not yet seen) refuses
   * the message (EPIPE): the job never reached it, so it goes to a fresh worker, once.
   */
  private handOver(w: Worker, rec: LocalJob, job: JobRequest, onProgress: Progress, retry: boolean): void {
    setIdle(w.child, false);
    rec.child = w.child;
    w.job = rec;
    w.logFile = job.logFile;
    w.onProgress = onProgress;
    if (w.child.pid === undefined) return;
    const msg: WorkerJob = {
      type: 'job',
      jobFile: job.jobFile,
      logFile: job.logFile,
      cwd: job.cwd,
      maxRssBytes: this.maxRss,
    };
    w.child.send(msg, (err) => {
      if (!err || rec.end) return;
      if (!retry) return rec.finish(startFailed(err));
      w.job = null;
      w.doomed = true;
      w.child.kill('SIGKILL');
      this.handOver(this.spawnWorker(), rec, job, onProgress, false);
    });
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
    // A worker's `done` may already wait unread in its pipe: read after the kill, it must not put the
    // dying process back in the pool before its exit is seen (the next job would be sent to it).
    for (const w of this.workers) if (w.child === rec.child) w.doomed = true;
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

  /** Lets the idle workers go (they exit when their channel closes) and kills any still busy. */
  async close(): Promise<void> {
    const left = [...this.workers];
    this.idle.length = 0;
    await Promise.all(
      left.map(
        (w) =>
          new Promise<void>((res) => {
            if (w.exited) return res();
            setIdle(w.child, false); // keep the event loop until it has gone
            w.child.once('exit', () => res());
            if (w.job) {
              try {
                process.kill(-w.child.pid!, 'SIGKILL');
              } catch {
                /* already gone */
              }
            } else if (w.child.connected) w.child.disconnect();
            else w.child.kill('SIGKILL');
          }),
      ),
    );
  }
}

function startFailed(err: Error): JobEnd {
  return { exitCode: null, signal: null, startError: `could not start the child process: ${err.message}`, slurm: null };
}

function forwardProgress(m: unknown, onProgress: Progress): void {
  const p = m as { type?: string; label?: string; done?: number; total?: number } | null;
  if (p?.type === 'progress') onProgress({ label: String(p.label), done: Number(p.done), total: Number(p.total) });
}

/** An idle worker does not keep the orchestrator's event loop alive; a busy one does. */
function setIdle(child: ChildProcess, idle: boolean): void {
  const handles = [child, child.channel, child.stdout, child.stderr] as (
    { ref(): void; unref(): void } | null | undefined
  )[];
  for (const h of handles) {
    if (h && typeof h.unref === 'function') {
      if (idle) h.unref();
      else h.ref();
    }
  }
}
