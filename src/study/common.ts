// Kept for branches in flight: the study's shared machinery now lives in one module per concern —
// params.ts (shared parameters), texts.ts (languages, corpus, splits, tokenised units), compare.ts
// (a treated model against full precision), record.ts (metrics), artifacts.ts (units.json).
// Import from those; this re-export goes once nothing uses it.
export * from './params.ts';
export * from './texts.ts';
export * from './compare.ts';
export * from './record.ts';
export * from './artifacts.ts';
