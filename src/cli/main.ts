// langquant's command line. Every command registers itself from src/cli/commands/; this file owns
// the one top-level error handler: a UserError prints its one-line message and exits non-zero,
// anything else is a bug and is printed with its stack.

import { Command, CommanderError } from 'commander';
import { UserError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerPipelineCommands } from './commands/run.ts';
import { registerTokenizers } from './commands/tokenizers.ts';
import { registerCorpus } from './commands/corpus.ts';
import { registerNll } from './commands/nll.ts';
import { registerPerplexity } from './commands/perplexity.ts';
import { registerTrain } from './commands/train.ts';
import { registerQuantize } from './commands/quantize.ts';
import { registerReport } from './commands/report.ts';
import { registerDownload } from './commands/download.ts';

export function buildProgram(): Command {
  const program = new Command('langquant')
    .description('Which languages pay when a language model is quantised, and what saves them')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInspect(program);
  registerPipelineCommands(program);
  registerTokenizers(program);
  registerCorpus(program);
  registerNll(program);
  registerPerplexity(program);
  registerTrain(program);
  registerQuantize(program);
  registerReport(program);
  registerDownload(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed its message (unknown option, --help, --version).
      return e.exitCode;
    }
    if (e instanceof UserError) {
      process.stderr.write(`langquant: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `langquant: internal error — please report it with the command you ran\n${(e as Error)?.stack ?? String(e)}\n`,
    );
    return 70;
  }
}

/**
 * A reader that stops early (`langquant nll … | head -c 100`) closes the pipe: end quietly, as Unix
 * tools do, rather than with an EPIPE stack trace. Other stdout errors are still thrown.
 */
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

// Run when executed as the program (bin/langquant.mjs imports this module).
quietOnClosedPipe(process.stdout);
const code = await main(process.argv.slice(2));
process.exitCode = code;
