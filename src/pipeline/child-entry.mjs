// Entry of the child process that runs one replicate of one experiment: registers the TypeScript
// loader (as bin/langquant.mjs does) and hands over to child.ts. Spawned by runner.ts.
import { register } from 'tsx/esm/api';
register();
await import('./child.ts');
