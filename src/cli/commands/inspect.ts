// `langquant inspect --model DIR`: architecture, parameter count, dtypes, tied and ignored tensors.
// Everything comes from config.json and the weight files' headers: no weight is read, except that
// when config.json ties the output matrix and the file stores one anyway, that matrix and the
// embedding are read to tell a copy of the tie from a contradiction (src/model/load.ts). So a
// checkpoint of any size is inspected in about the time it takes to open it.
// With --check, every tensor is read as well (src/model/check.ts): NaN/±Inf, all-zero tensors and
// tensors far from their siblings are reported; NaN/±Inf in a tensor the model uses then exits
// non-zero with the loader's one-line refusal, after the report.

import type { Command } from 'commander';
import { CheckpointError } from '../../errors.ts';
import { checkWeights, type WeightCheck } from '../../model/check.ts';
import { loadModel } from '../../model/load.ts';
import { weightSpec } from '../../model/spec.ts';
import { numel } from '../../tensor/tensor.ts';
import { modelFolder } from '../hub.ts';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('architecture, parameter count, dtypes, tied and ignored tensors of a model folder')
    .requiredOption(
      '--model <dir|id>',
      'Hugging Face model folder (config.json + weights) or model id org/name[@revision]',
    )
    .option('--json', 'print JSON instead of text')
    .option('--check', 'also read every tensor: report NaN/Inf, all-zero tensors and tensors far from their siblings')
    .action(async (opts: { model: string; json?: boolean; check?: boolean }) => {
      opts.model = await modelFolder(opts.model);
      let model = loadModel(opts.model, { keep: () => false }); // headers only
      // Before the tied output is read: a NaN there is reported, not thrown before the report.
      const check = opts.check ? checkWeights(opts.model) : null;
      const specs = weightSpec(model.config);
      const storedTiedOutput = specs.some((s) => s.tiedTo !== undefined && !model.info.tied.includes(s.name));
      if (storedTiedOutput && !check?.refusal)
        model = loadModel(opts.model, { keep: (n) => specs.some((s) => s.name === n && s.tiedTo !== undefined) });
      const c = model.config;
      // Every tensor the architecture needs has its spec shape (the loader checked it); a tied
      // output matrix is the embedding, counted once.
      let params = 0;
      for (const s of specs) if (!model.info.tied.includes(s.name)) params += numel(s.shape);
      const dtypeCounts: Record<string, number> = {};
      for (const d of Object.values(model.info.dtypes)) dtypeCounts[d] = (dtypeCounts[d] ?? 0) + 1;
      const out = {
        dir: model.dir,
        arch: c.arch,
        layers: c.numLayers,
        hiddenSize: c.hiddenSize,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        intermediateSize: c.intermediateSize,
        vocabSize: c.vocabSize,
        maxPositions: c.maxPositions,
        positions: c.positions,
        parameters: params,
        format: model.info.format,
        files: model.info.files,
        dtypes: dtypeCounts,
        tied: model.info.tied,
        ignored: model.info.ignored,
        ...(check ? { check: { tensors: check.tensors, findings: check.findings } } : {}),
      };
      if (opts.json) {
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        if (check?.refusal) throw new CheckpointError(check.refusal);
        return;
      }
      const lines = [
        `model        ${out.dir}`,
        `architecture ${out.arch} (${out.layers} layers, hidden ${out.hiddenSize}, ${out.heads} heads${out.kvHeads !== out.heads ? ` / ${out.kvHeads} kv` : ''}, head dim ${out.headDim}, MLP ${out.intermediateSize})`,
        `vocabulary   ${out.vocabSize}`,
        `positions    ${out.positions}${out.maxPositions ? `, at most ${out.maxPositions}` : ''}`,
        `parameters   ${params.toLocaleString('en-US')}`,
        `weights      ${out.format}: ${out.files.join(', ')}`,
        `dtypes       ${Object.entries(dtypeCounts)
          .map(([d, n]) => `${d} ×${n}`)
          .join(', ')}`,
        `tied         ${out.tied.length ? out.tied.join(', ') : 'none'}`,
        `ignored      ${out.ignored.length ? out.ignored.join(', ') : 'none'}`,
        ...(check ? checkLines(check) : []),
      ];
      process.stdout.write(lines.join('\n') + '\n');
      if (check?.refusal) throw new CheckpointError(check.refusal);
    });
}

function checkLines(c: WeightCheck): string[] {
  const read = c.tensors.filter((t) => t.read);
  const values = read.reduce((a, t) => a + t.values, 0);
  const count = (sev: string) => c.findings.filter((f) => f.severity === sev).length;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const skipped = c.tensors.length - read.length;
  return [
    `check        ${plural(read.length, 'tensor')} read (${values.toLocaleString('en-US')} values${skipped ? `; ${skipped} not float, skipped` : ''}): ${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}, ${plural(count('note'), 'note')}`,
    ...c.findings.map((f) => `  ${f.severity.padEnd(8)} ${f.tensor}: ${f.message}`),
  ];
}
