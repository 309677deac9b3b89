// Helper lanes: a slot of `--jobs` is lent to a running replicate whose kind says it gains from one
// (Kind.helpers) when nothing else is ready to run, or when what is ready has a shorter expected path
// to the end of the run than the replicate's experiment (priority.ts: the critical path gets the
// cores first, so the study's longest experiment has two instead of one). The helper is the same job run
// again by a second process with KindContext.lane = 1: a kind that keeps its per-item work in the run
// folder's caches and looks each item up just before doing it (the study's per-unit score cache)
// does that work from the other end, so the replicate and its helper meet once in the middle and the
// replicate finds the rest done. The helper's metrics, artifacts and exit status are discarded; it
// is killed when its replicate ends (whatever the outcome) and when ready work on a path at least as
// long needs the slot. The replicate's numbers never depend on it: an item is the same whoever computed it.
// Only the local executor lends slots this way (a Slurm job is its own allocation).
//
// pickHelped and helperToPreempt are pure (the scheduler's decisions); runHelper is the effect.

import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor, JobRequest } from './executor.ts';
import type { ChildJob } from './protocol.ts';

/** A running replicate that may be given a helper. */
export interface Helpable {
  /** `<experiment>.r<k>`. */
  name: string;
  /** The scheduler's priority of its experiment (expected time to the end of the run, ms). */
  priority: number;
  /** Its job file's content and its job request, from which the helper's are made. */
  job: ChildJob;
  request: JobRequest;
  /** The helper running now, if any. */
  helper: Helper | null;
  /** Its helper ran to its own end: it gets no other (one stopped for other work may be started again). */
  helped: boolean;
}

/** A helper in flight. */
export interface Helper {
  /** Resolves when the helper's process has ended (finished, failed or killed). */
  readonly done: Promise<void>;
  /** Kills the helper (no-op once it has ended or was stopped). */
  stop(why: string): void;
  readonly stopping: boolean;
}

/**
 * The replicate to lend a free slot to: the highest priority above `above` (the best ready work's; ties
 * go to the ready work) among those without a helper and not helped to its end, or null.
 */
export function pickHelped(candidates: Iterable<Helpable>, above = -Infinity): Helpable | null {
  let best: Helpable | null = null;
  for (const h of candidates)
    if (!h.helped && h.helper === null && h.priority > above && (!best || h.priority > best.priority)) best = h;
  return best;
}

/**
 * The helper to stop so that ready work of priority `ready` gets a slot: the lowest priority's among
 * those running and not stopping, if not above `ready` (ties go to the ready work); else null.
 */
export function helperToPreempt(candidates: Iterable<Helpable>, ready = Infinity): Helpable | null {
  let worst: Helpable | null = null;
  for (const h of candidates)
    if (h.helper && !h.helper.stopping && h.priority <= ready && (!worst || h.priority < worst.priority)) worst = h;
  return worst;
}

/**
 * Starts `h`'s helper on `executor`: its own job file, result file, work folder (under the run's
 * tmp/, removed at the end) and log file (`logs/<name>.lane1.log`); one line in the replicate's log
 * when it starts and when it ends.
 */
export function runHelper(executor: Executor, h: Helpable, runDir: string): Helper {
  const name = `${h.name}.lane1`;
  const base = join(runDir, 'tmp', name);
  const workDir = `${base}.work`;
  const request: JobRequest = {
    ...h.request,
    name,
    jobFile: `${base}.job.json`,
    resultFile: `${base}.result.json`,
    progressFile: `${base}.progress.json`,
    logFile: join(runDir, 'logs', `${name}.log`),
  };
  const note = (line: string) => {
    try {
      appendFileSync(h.request.logFile, `==== ${line}\n`);
    } catch {
      /* the log is best effort */
    }
  };
  let stopReason: string | null = null;
  let jobId: string | null = null;
  let wake: () => void = () => {};
  const t0 = Date.now();
  const done = (async () => {
    try {
      rmSync(workDir, { recursive: true, force: true });
      mkdirSync(workDir, { recursive: true });
      const job: ChildJob = { ...h.job, lane: 1, workDir, resultPath: request.resultFile, progressPath: null };
      writeFileSync(request.jobFile, JSON.stringify(job, null, 1));
      appendFileSync(
        request.logFile,
        `==== helper lane of ${h.name} (its metrics are discarded), started ${new Date().toISOString()}\n`,
      );
      jobId = await executor.submit(request, () => {});
      note(`a helper lane started on a free slot (${executor.name} job ${jobId}, log ${name}.log)`);
      if (stopReason !== null) await executor.cancel(jobId, 'kill');
      for (;;) {
        const st = await executor.poll(jobId);
        if (st.phase === 'ended' || st.phase === 'unknown') break;
        await Promise.race([
          executor.wait(jobId, executor.pollDelayMs(Date.now() - t0)),
          new Promise<void>((r) => (wake = r)),
        ]);
      }
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      note(`the helper lane ended after ${secs} s${stopReason ? ` (stopped: ${stopReason})` : ''}`);
    } catch (e) {
      note(`the helper lane could not run: ${(e as Error).message}`);
    } finally {
      if (jobId !== null) executor.release(jobId);
      for (const f of [request.jobFile, request.resultFile, request.progressFile]) rmSync(f, { force: true });
      rmSync(workDir, { recursive: true, force: true });
    }
  })();
  return {
    done,
    get stopping() {
      return stopReason !== null;
    },
    stop(why: string) {
      if (stopReason !== null) return;
      stopReason = why;
      if (jobId !== null) void executor.cancel(jobId, 'kill').finally(() => wake());
    },
  };
}
