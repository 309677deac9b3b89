// The built-in study (pipelines/disparity.yaml) written to a test folder with the shipped mini models
// by absolute path, the corpus groups a test chooses, and each experiment edited in place: the shared
// start of the end-to-end tests that run the real study on reduced settings.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const BUILTIN = fileURLToPath(new URL('../../pipelines/disparity.yaml', import.meta.url));
const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));

/** Kinds whose params take the evaluation settings (the others read their dependencies' results). */
export const MEASURING = new Set([
  'baseline',
  'quantize',
  'preserve',
  'layerSensitivity',
  'layerPreservation',
  'validate',
  'method',
]);

export interface BuiltinExperiment {
  id: string;
  kind: string;
  replicates?: number;
  params: Record<string, unknown>;
}

/** Writes `dir/study.yaml` and returns its path; `edit` may also change the whole pipeline object. */
export function reducedBuiltin(
  dir: string,
  o: {
    groups: { high: string[]; low: string[] };
    experiment?: (e: BuiltinExperiment) => void;
    pipeline?: (p: Record<string, unknown>) => void;
  },
): string {
  const p = parse(readFileSync(BUILTIN, 'utf8'));
  for (const [alias, m] of Object.entries(p.models as Record<string, { path: string }>))
    p.models[alias] = { ...m, path: join(MODELS, m.path.replace('../models/', '')) };
  p.corpus.groups = o.groups;
  for (const e of p.experiments as BuiltinExperiment[]) o.experiment?.(e);
  o.pipeline?.(p);
  const file = join(dir, 'study.yaml');
  writeFileSync(file, stringify(p));
  return file;
}
