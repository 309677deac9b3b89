// Reading the results of the experiments an experiment depends on: the same replicate when the
// dependency has it (replicate k of every experiment draws the same units), else replicate 0.
// Reference: src/pipeline/kind.ts (DependencyReader).

import { readFileSync } from 'node:fs';
import { DataError } from '../errors.ts';
import type { KindContext, MetricRow } from '../pipeline/kind.ts';

type Ctx = Pick<KindContext<unknown>, 'deps' | 'replicate' | 'experiment'>;

/** The dependency id given in params, or the first dependency of a kind. */
export function depId(ctx: Ctx, given: string | undefined, what: string): string {
  const id = given ?? ctx.experiment.dependsOn.find((d) => ctx.deps.ids.includes(d));
  if (!id || !ctx.deps.ids.includes(id)) {
    throw new DataError(
      `${ctx.experiment.id} needs ${what}${given ? ` (${given})` : ''} among its dependsOn (has: ${ctx.deps.ids.join(', ') || 'none'}); add it to dependsOn in the pipeline file`,
    );
  }
  return id;
}

/** Which replicate of `id` to read. */
export function depReplicate(ctx: Ctx, id: string): number {
  return ctx.deps.metrics(id, { replicate: ctx.replicate }).length > 0 ? ctx.replicate : 0;
}

export function depMetrics(
  ctx: Ctx,
  id: string,
  filter: { metric?: string; model?: string | null; language?: string | null } = {},
): MetricRow[] {
  return ctx.deps.metrics(id, { ...filter, replicate: depReplicate(ctx, id) });
}

/** One number from a dependency; a DataError naming what is missing otherwise. */
export function depValue(
  ctx: Ctx,
  id: string,
  metric: string,
  where: { model?: string | null; language?: string | null } = {},
): number {
  const rows = depMetrics(ctx, id, { metric, ...where });
  if (rows.length === 0)
    throw new DataError(
      `${id} has no ${metric}${where.model ? ` for model ${where.model}` : ''}${where.language ? ` for ${where.language}` : ''}; rerun it (langquant run --force ${id})`,
    );
  return rows[0].value;
}

/** A JSON artifact of a dependency by file name (same replicate, else replicate 0). */
export function depArtifactJson<T>(ctx: Ctx, id: string, name: string): T {
  const all = ctx.deps.artifacts(id).filter((a) => a.path.endsWith(`/${name}`) || a.path === name);
  const row = all.find((a) => a.replicate === ctx.replicate) ?? all.find((a) => a.replicate === 0);
  if (!row)
    throw new DataError(
      `${id} recorded no ${name} for replicate ${ctx.replicate}; rerun it (langquant run --force ${id})`,
    );
  return JSON.parse(readFileSync(ctx.deps.artifactPath(row), 'utf8')) as T;
}
