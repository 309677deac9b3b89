// Whether a process still runs: a pipeline run's orchestrator (a store's claim on a run folder), or the
// writer of a staging folder left behind (src/util/atomic-dir.ts).

/**
 * Whether the process `pid` is alive: signal 0 checks without sending anything; EPERM means it exists
 * but belongs to another user.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
