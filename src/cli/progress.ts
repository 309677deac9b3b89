// Progress of a pipeline run on the terminal: a line per experiment with elapsed time and ETA (from
// expectedRuntime and past runs), a live bar for a kind's inner loop (languages, layers) when the
// stream it writes to (stdout) is a TTY, and plain lines otherwise (logs, CI). Fed by the runner's events.

import cliProgress from 'cli-progress';
import { formatDuration } from '../pipeline/duration.ts';
import type { RunEvent } from '../pipeline/runner.ts';

export class RunProgress {
  private readonly out: NodeJS.WritableStream;
  private readonly tty: boolean;
  private bar: cliProgress.SingleBar | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private started = 0;
  private current: { id: string; replicate: number; expectedMs: number | null } | null = null;
  private remaining = new Map<string, number>(); // expected ms still to run, by experiment
  private lastPlainProgress = 0;
  private readonly ran = new Set<string>(); // experiments started in this run (several at once with --jobs)

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }, tty = Boolean(out.isTTY)) {
    this.out = out;
    this.tty = tty;
  }

  private line(s: string): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    this.out.write(s + '\n');
  }

  private eta(): string {
    let total = 0;
    for (const [id, ms] of this.remaining) {
      if (this.current?.id === id) total += Math.max(0, ms - (Date.now() - this.started));
      else total += ms;
    }
    return total > 0 ? formatDuration(total) : '?';
  }

  readonly handle = (e: RunEvent): void => {
    switch (e.type) {
      case 'recovered':
        this.line(
          `resuming: run ${e.runs.join(', ')} was stopped; ${e.attempts} attempt(s) in flight recorded as interrupted${e.adopted || e.collected ? `; ${e.adopted} Slurm job(s) still running adopted, ${e.collected} finished job(s) collected` : ''}`,
        );
        break;
      case 'submitted':
        this.line(
          `  ${e.id} r${e.replicate} ${e.adopted ? 'adopted' : 'submitted as'} ${e.executor === 'slurm' ? 'Slurm ' : ''}job ${e.jobId}`,
        );
        break;
      case 'plan': {
        const entries = [...e.plan.entries.values()].filter((x) => x.selected);
        const toRun = entries.filter((x) => !x.blocked && x.toRun.length > 0);
        for (const x of toRun) this.remaining.set(x.id, x.remainingMs ?? 0);
        const upToDate = entries.filter((x) => x.upToDate).length;
        const est =
          e.plan.totalMs > 0
            ? ` (expected ${formatDuration(e.plan.totalMs)}${e.plan.unknownRuntimes ? `, ${e.plan.unknownRuntimes} without an estimate` : ''})`
            : '';
        this.line(
          `run ${e.runId}: ${entries.length} experiment(s), ${toRun.length} to run${est}, ${upToDate} up to date`,
        );
        break;
      }
      case 'skip':
        this.line(
          `  ${e.id} ${e.status === 'passed' ? 'up to date' : e.status}${e.source === 'import' ? ` (imported${e.note ? `: ${e.note}` : ''})` : ' (stored result reused)'}${e.reason ? ` — ${e.reason}` : ''}`,
        );
        break;
      case 'blocked':
        this.line(`  ${e.id} blocked: ${e.reason}`);
        break;
      case 'start': {
        this.ran.add(e.id);
        this.started = Date.now();
        this.current = { id: e.id, replicate: e.replicate, expectedMs: e.expectedMs };
        const label = `[${e.index}/${e.count}] ${e.id} r${e.replicate}${e.replicates > 1 ? `/${e.replicates}` : ''}${e.try > 1 ? ` (retry ${e.try - 1})` : ''}`;
        if (this.tty) {
          this.bar = new cliProgress.SingleBar(
            {
              format: `${label} {bar} {what} {value}/{total} | {elapsed} elapsed | ETA {left} (all {leftAll})`,
              hideCursor: false,
              clearOnComplete: true,
              stream: this.out as NodeJS.WriteStream,
              noTTYOutput: false,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(1, 0, this.payload(''));
          this.ticker = setInterval(() => this.bar?.update(this.payload()), 500);
          this.ticker.unref();
        } else {
          this.line(
            `${label} started${e.expectedMs ? `, expected ${formatDuration(e.expectedMs)}` : ''}, ETA ${this.eta()}; log ${e.logPath}`,
          );
        }
        break;
      }
      case 'progress':
        if (this.bar) {
          this.bar.update(e.done, { ...this.payload(e.label) });
          this.bar.setTotal(Math.max(1, e.total));
        } else if (Date.now() - this.lastPlainProgress > 5000 || e.done === e.total) {
          this.lastPlainProgress = Date.now();
          this.line(
            `      ${e.id} r${e.replicate} ${e.label} ${e.done}/${e.total}, ${formatDuration(Date.now() - this.started)} elapsed`,
          );
        }
        break;
      case 'end': {
        if (this.ticker) {
          clearInterval(this.ticker);
          this.ticker = null;
        }
        // This replicate's share of the estimate is spent, whatever it really took.
        const rem = this.remaining.get(e.id);
        if (rem !== undefined) this.remaining.set(e.id, Math.max(0, rem - (this.current?.expectedMs ?? 0)));
        this.line(
          `  ${e.id} r${e.replicate} ${e.status}${e.error ? `: ${e.error}` : ''} in ${formatDuration(e.durationMs)}${e.willRetry ? ' — retrying' : ''}`,
        );
        break;
      }
      case 'experiment':
        if (e.status === 'running') break;
        this.remaining.delete(e.id);
        if (this.current?.id === e.id) this.current = null;
        if (this.ran.delete(e.id) && (e.status === 'passed' || e.status === 'failed' || e.status === 'interrupted'))
          this.line(`  ${e.id} ${e.status.toUpperCase()}${e.reason ? `: ${e.reason}` : ''}`);
        break;
      case 'done': {
        const s = e.summary;
        const parts = [
          `${s.passed.length} passed`,
          s.failed.length ? `${s.failed.length} failed (${s.failed.join(', ')})` : '',
          s.blocked.length ? `${s.blocked.length} blocked (${s.blocked.join(', ')})` : '',
          s.pending.length ? `${s.pending.length} not run` : '',
          s.interrupted.length ? `interrupted at ${s.interrupted.join(', ')}` : '',
        ].filter(Boolean);
        this.line(
          `${s.status === 'interrupted' ? 'interrupted' : 'done'}: ${parts.join(', ')}; ${s.ran.length} ran, ${s.reused.length} reused, in ${formatDuration(s.elapsedMs)}`,
        );
        break;
      }
    }
  };

  private payload(what?: string): Record<string, string> {
    const elapsed = Date.now() - this.started;
    const exp = this.current?.expectedMs;
    return {
      ...(what !== undefined ? { what } : {}),
      elapsed: formatDuration(elapsed),
      left: exp ? formatDuration(Math.max(0, exp - elapsed)) : '?',
      leftAll: this.eta(),
    };
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.bar?.stop();
    this.bar = null;
  }
}
