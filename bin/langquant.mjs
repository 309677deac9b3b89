#!/usr/bin/env node
// langquant's executable: registers the TypeScript loader (tsx) and hands over to the CLI.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
