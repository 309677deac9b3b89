// Loads onnxruntime-node once and proves its native binding works by running a one-node graph.
// When it cannot load (a platform without a prebuilt binary, a broken install), callers get an
// OrtUnavailableError that says why and what to do; select.ts turns it into a fallback notice.

import { UserError } from '../../errors.ts';
import { GraphBuilder } from './graph.ts';
import { DataType } from './proto.ts';

export type Ort = typeof import('onnxruntime-node');

/** onnxruntime-node is missing or its native library does not load on this machine. */
export class OrtUnavailableError extends UserError {
  readonly reason: string;
  constructor(reason: string) {
    super(
      `onnxruntime-node could not be loaded (${reason}); run \`npm install\` again, or pass --engine reference to use the TypeScript engine`,
    );
    this.name = 'OrtUnavailableError';
    this.reason = reason;
  }
}

let loading: Promise<Ort> | undefined;

async function load(): Promise<Ort> {
  let ort: Ort;
  try {
    const m = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    ort = m.default ?? m;
  } catch (e) {
    throw new OrtUnavailableError(firstLine(e));
  }
  try {
    // The binding is only loaded when the first session is created: do it now, on a tiny graph.
    const b = new GraphBuilder('probe');
    const x = b.input('x', DataType.FLOAT, [1]);
    b.output(b.node('Neg', [x]), 'y', DataType.FLOAT, [1]);
    const s = await ort.InferenceSession.create(b.encode().model, { logSeverityLevel: 3 });
    await s.release();
  } catch (e) {
    throw new OrtUnavailableError(firstLine(e));
  }
  return ort;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim() || 'unknown error';
}

/** onnxruntime-node, loaded and checked once per process. Rejects with OrtUnavailableError. */
export function loadOrt(): Promise<Ort> {
  loading ??= load();
  return loading;
}
