// Picks the execution engine for a model: `ort` (onnxruntime graphs, fast), `reference` (the
// TypeScript forward pass, exact, always available) or `auto` (ort when onnxruntime loads,
// otherwise the reference engine, with one notice per process or per `noticeKey` through `onNotice`). Nothing here
// writes to the console: the CLI decides how to show the notice.

import { ConfigError } from '../errors.ts';
import type { Model } from '../model/model.ts';
import { ortEngine, type OrtEngineOptions } from './ort/engine.ts';
import { OrtUnavailableError } from './ort/runtime.ts';
import { referenceEngine } from './reference.ts';
import type { Engine, EngineName } from './types.ts';

export const ENGINE_NAMES: readonly EngineName[] = ['auto', 'ort', 'reference'];

export interface CreateEngineOptions extends OrtEngineOptions {
  /** Receives the one-line notice when `auto` falls back to the reference engine. */
  readonly onNotice?: (message: string) => void;
  /**
   * The notice is given once per key: a replicate's context, so that every replicate's log says it
   * once even in a worker process that runs several (src/pipeline/executor.ts). Default: once per process.
   */
  readonly noticeKey?: object;
  /** Replaces the onnxruntime engine's constructor (tests of the fallback). */
  readonly ortFactory?: (model: Model, opts: OrtEngineOptions) => Promise<Engine>;
}

const noticed = new WeakSet<object>();
const PROCESS_KEY = {};

/**
 * The engine `name` for `model`. `ort` rejects with OrtUnavailableError (a UserError saying what to
 * do) when onnxruntime cannot load; `auto` falls back to the reference engine instead.
 */
export async function createEngine(model: Model, name: EngineName, opts: CreateEngineOptions = {}): Promise<Engine> {
  const makeOrt = opts.ortFactory ?? ortEngine;
  switch (name) {
    case 'reference':
      return referenceEngine(model);
    case 'ort':
      return makeOrt(model, opts);
    case 'auto':
      try {
        return await makeOrt(model, opts);
      } catch (e) {
        if (!(e instanceof OrtUnavailableError)) throw e;
        const key = opts.noticeKey ?? PROCESS_KEY;
        if (!noticed.has(key)) {
          noticed.add(key);
          opts.onNotice?.(
            `onnxruntime-node is not available (${e.reason}); using the TypeScript reference engine, which is much slower`,
          );
        }
        return referenceEngine(model);
      }
    default:
      // Unreachable from typed code; a CLI value that slipped past its parser lands here.
      throw new ConfigError(`unknown engine "${String(name)}"; choose one of ${ENGINE_NAMES.join(', ')}`);
  }
}
