// A Node module hook for tests of the fallback when onnxruntime cannot load (preloaded with
// `--import`): LQ_TEST_ORT=missing makes `onnxruntime-node` unresolvable (a machine without the
// package); LQ_TEST_ORT=broken gives a module whose native session creation fails (a package whose
// shared library does not load on this platform).
import { register } from 'node:module';

const broken = `
const fail = async () => { throw new Error('libonnxruntime.so.1: cannot open shared object file: No such file or directory'); };
export const InferenceSession = { create: fail };
export class Tensor { constructor() {} }
export default { InferenceSession, Tensor };
`;
const hooks = `
const mode = ${JSON.stringify(process.env.LQ_TEST_ORT ?? 'missing')};
export async function resolve(spec, ctx, next) {
  if (spec === 'onnxruntime-node') {
    if (mode === 'broken') return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(broken)}), shortCircuit: true };
    const e = new Error("Cannot find package 'onnxruntime-node' imported from langquant");
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(spec, ctx);
}
`;
register('data:text/javascript,' + encodeURIComponent(hooks));
