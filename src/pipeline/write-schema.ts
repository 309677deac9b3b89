// Writes the pipeline file's JSON Schema to schema/pipeline.schema.json (generated from the zod
// schema in spec.ts; a test checks the file is current). Run: node --import tsx src/pipeline/write-schema.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pipelineJsonSchema } from './spec.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../../schema/pipeline.schema.json', import.meta.url));
export const schemaText = (): string => JSON.stringify(pipelineJsonSchema(), null, 2) + '\n';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, schemaText());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
