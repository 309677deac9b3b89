// `langquant download ID…`: brings Hugging Face models into the huggingface_hub cache ahead of time
// (config, tokenizer files, weights in the first layout the loader reads), resumable and verified
// (src/hub). Prints each model's snapshot folder, the folder every other command then reads.

import type { Command } from 'commander';
import { cliHubSettings, fetchHubModel } from '../hub.ts';

export function registerDownload(program: Command): void {
  program
    .command('download')
    .description('download Hugging Face models (org/name or org/name@revision) into the huggingface_hub cache')
    .argument('<ids...>', 'model ids, e.g. openai-community/gpt2 Qwen/Qwen2.5-0.5B@main')
    .option('--json', 'print JSON instead of text')
    .action(async (ids: string[], opts: { json?: boolean }) => {
      const settings = cliHubSettings();
      const out = [];
      for (const ref of ids) {
        const m = await fetchHubModel(ref, settings);
        out.push({ id: m.id, revision: m.revision, commit: m.commit, dir: m.dir, files: m.files });
        if (!opts.json)
          process.stdout.write(`${m.id} → ${m.dir} (commit ${m.commit.slice(0, 12)}, ${m.files.length} files)\n`);
      }
      if (opts.json) process.stdout.write(JSON.stringify({ cache: settings.cacheDir, models: out }, null, 2) + '\n');
    });
}
