// node --import tsx bench/gen.ts : writes the cached benchmark inputs (see checkpoint.ts).
import { ensureCheckpoint, ensureIds } from './checkpoint.ts';
ensureCheckpoint('bench/.cache/gpt2-small-random');
ensureIds('bench/.cache/ids-4x1024.json', 4, 1024);
