// A stand-alone scorer with the `langquant nll` JSON contract, for timing the onnxruntime engine
// as a whole process when the CLI's `nll` does not route to it yet:
//   node --import tsx bench/score.ts MODEL_DIR IDS_FILE [ort|reference]
import { readFileSync } from 'node:fs';
import { createEngine } from '../src/engine/select.ts';
import type { EngineName } from '../src/engine/types.ts';
import { loadModel } from '../src/model/load.ts';

const [dir, idsFile, name = 'ort'] = process.argv.slice(2);
const model = loadModel(dir);
const seqs = JSON.parse(readFileSync(idsFile, 'utf8')) as number[][];
const engine = await createEngine(model, name as EngineName);
const sequences = [];
for (const s of seqs) {
  const r = await engine.score({ ids: Int32Array.from(s) });
  let sum = 0;
  for (const v of r.nll) sum += v;
  sequences.push({ length: s.length, nll: Array.from(r.nll), meanNll: sum / r.nll.length });
}
await engine.dispose();
process.stdout.write(JSON.stringify({ sequences }) + '\n');
