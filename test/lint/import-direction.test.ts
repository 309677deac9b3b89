// The import direction of src/ (eslint.config.js, README Layout) is enforced: a few imports against it
// are reported, each by the folder it really reaches (a relative path is matched at its depth), and
// the allowed ones are not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { ROOT } from '../helpers/cli.ts';

const eslint = new ESLint({ cwd: ROOT });

/** The no-restricted-imports messages for one import line placed in a file at `path`. */
async function violations(path: string, from: string): Promise<string[]> {
  const [r] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, {
    filePath: `${ROOT}/${path}`,
  });
  return r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('imports against the direction are errors, each naming what the folder may import', async () => {
  const bad: [string, string][] = [
    ['src/model/x.ts', '../data/udhr.ts'], // model sits below data (the trainer moved to src/train for this)
    ['src/model/arch/x.ts', '../../eval/score.ts'],
    ['src/pipeline/x.ts', '../model/load.ts'], // the pipeline engine knows nothing of models
    ['src/pipeline/x.ts', '../study/kinds.ts'],
    ['src/kernels/x.ts', '../pipeline/plan.ts'],
    ['src/report/x.ts', '../study/rules.ts'], // a generic renderer
    ['src/study/x.ts', '../cli/main.ts'], // nothing but the CLI imports the CLI
    ['src/study/figures/x.ts', '../../cli/main.ts'],
    ['src/eval/x.ts', '../index.ts'], // the public API is an entry
    ['src/train/x.ts', '../eval/score.ts'],
    ['src/engine/ort/x.ts', '../../quant/rtn.ts'],
    ['src/tensor/x.ts', '../kernels/matmul.ts'],
    ['src/api.ts', './cli/main.ts'],
  ];
  for (const [path, from] of bad) {
    const m = await violations(path, from);
    assert.equal(m.length, 1, `${path} importing ${from} should be reported`);
  }
  assert.match(
    (await violations('src/pipeline/x.ts', '../model/load.ts'))[0],
    /src\/pipeline may import only util of src\//,
  );
});

test('imports along the direction pass', async () => {
  const good: [string, string][] = [
    ['src/cli/commands/x.ts', '../../study/kinds.ts'],
    ['src/cli/commands/x.ts', '../hub.ts'], // src/cli/hub.ts, not src/hub
    ['src/study/x.ts', '../report/render.ts'],
    ['src/report/x.ts', '../pipeline/store.ts'],
    ['src/train/x.ts', '../data/udhr.ts'],
    ['src/train/x.ts', '../model/config.ts'],
    ['src/model/arch/x.ts', '../../kernels/index.ts'],
    ['src/engine/ort/x.ts', '../../model/model.ts'],
    ['src/kernels/x.ts', './types.ts'],
    ['src/pipeline/x.ts', '../util/rng.ts'],
    ['src/data/x.ts', '../errors.ts'],
    ['src/index.ts', './study/kinds.ts'],
  ];
  for (const [path, from] of good) assert.deepEqual(await violations(path, from), [], `${path} importing ${from}`);
});
