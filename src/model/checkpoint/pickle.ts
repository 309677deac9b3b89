// A restricted pickle interpreter for the `data.pkl` of a torch.save archive. Reference: Python's
// Lib/pickletools.py (opcode definitions) and torch/serialization.py (what torch.save pickles).
// It understands only what a saved state dict needs and NEVER runs code: there is no callable here,
// only a fixed table of allowlisted globals that the interpreter *emulates*:
//   collections.OrderedDict             → a Map (its BUILD state, `_metadata`, is dropped)
//   torch._utils._rebuild_tensor_v2     → a TensorRef (storage, offset, shape, stride)
//   torch._utils._rebuild_parameter     → the tensor inside the Parameter
//   torch.{Float,Half,BFloat16,…}Storage → a dtype tag inside a persistent id (also torch.storage.*)
// Any other GLOBAL/STACK_GLOBAL (os.system, builtins.eval, …) and the opcodes that build arbitrary
// objects (INST, OBJ, EXT*) are refused with a CheckpointError naming them.
// Persistent ids (BINPERSID) are torch's storage references ('storage', StorageType, key, location,
// numel); they become StorageRefs that the caller resolves to `archive/data/<key>`.

import { CheckpointError } from '../../errors.ts';
import type { StorageDType } from '../../tensor/dtype.ts';

/** A storage named by a persistent id: `numel` elements of `dtype` in archive entry data/<key>. */
export interface StorageRef {
  readonly kind: 'storage';
  readonly key: string;
  readonly dtype: StorageDType;
  readonly numel: number;
  readonly location: string;
}

/** A tensor as _rebuild_tensor_v2 describes it: a strided view of a storage (offsets in elements). */
export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** An allowlisted global, as pushed by GLOBAL; only ever interpreted, never called. */
class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** torch storage classes → the dtype of their elements (safetensors naming). */
const STORAGE_TYPES: Record<string, StorageDType> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ALLOWED_FUNCTIONS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
]);

function isAllowedGlobal(module: string, name: string): boolean {
  if (ALLOWED_FUNCTIONS.has(`${module}.${name}`)) return true;
  return (
    (module === 'torch' || module === 'torch.storage') && Object.prototype.hasOwnProperty.call(STORAGE_TYPES, name)
  );
}

const ALLOWED_LIST =
  'torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, collections.OrderedDict, torch.*Storage';

// The stack holds plain data: null, booleans, numbers, strings, arrays (tuples and lists), Maps
// (dicts), Globals, StorageRefs and TensorRefs.
type Value = unknown;

/**
 * Interprets `bytes` (a pickle, protocol 2–5 opcodes) and returns the unpickled value. `file` labels
 * errors. Throws CheckpointError for anything beyond a state dict.
 */
export function unpickle(bytes: Uint8Array, file: string): Value {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const refuse = (what: string) =>
    new CheckpointError(
      `${file}: refusing to execute ${what} from its pickle — a saved state dict needs only ${ALLOWED_LIST}; the file may be malicious: get the weights as safetensors from a source you trust`,
    );
  const bad = (what: string) =>
    new CheckpointError(
      `${file}: ${what} in its pickle; the file is damaged or is not a state dict — download it again`,
    );

  let pos = 0;
  let stack: Value[] = [];
  const metastack: Value[][] = [];
  const memo = new Map<number, Value>();

  const need = (n: number) => {
    if (pos + n > buf.length) throw bad(`unexpected end of data at byte ${pos}`);
  };
  const u8 = () => (need(1), buf[pos++]);
  const u16 = () => (need(2), (pos += 2), buf.readUInt16LE(pos - 2));
  const u32 = () => (need(4), (pos += 4), buf.readUInt32LE(pos - 4));
  const i32 = () => (need(4), (pos += 4), buf.readInt32LE(pos - 4));
  const u64 = () => {
    need(8);
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    if (v > BigInt(buf.length)) throw bad(`length ${v} runs past the end of the data`);
    return Number(v);
  };
  const text = (n: number) => {
    need(n);
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw bad('GLOBAL without a newline');
    const s = buf.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  const pop = (): Value => {
    if (stack.length === 0) throw bad(`stack underflow at byte ${pos - 1}`);
    return stack.pop();
  };
  const top = (): Value => {
    if (stack.length === 0) throw bad(`stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): Value[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) throw bad(`no MARK before byte ${pos - 1}`);
    stack = prev;
    return items;
  };
  const global = (module: string, name: string) => {
    if (!isAllowedGlobal(module, name)) throw refuse(`${module}.${name}`);
    stack.push(new Global(module, name));
  };
  const setItems = (dict: Value, items: Value[]) => {
    if (!(dict instanceof Map)) throw bad('SETITEM on something that is not a dict');
    if (items.length % 2) throw bad('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw bad('pickle protocol above 5');
        break;
      case 0x95: // FRAME (protocol 4): only a size hint
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || metastack.length) throw bad('stack not empty at STOP');
        return stack[0];
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: {
        // TUPLE (popMark first: it replaces `stack`, so `stack.push(popMark())` would push to the old one)
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw bad('APPEND to something that is not a list');
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw bad('APPENDS to something that is not a list');
        list.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d); // after popMark, so onto the restored stack
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1: n-byte two's-complement little-endian integer
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[pos + i]);
        if (n > 0 && buf[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          throw bad(`integer ${v} out of range`);
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT: 8-byte big-endian double
        need(8);
        stack.push(buf.readDoubleBE(pos));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw bad(`memo entry ${k} read before it was written`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL without two strings');
        global(module, name);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop(), bad));
        break;
      case 0x52: // REDUCE
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const fn = pop();
        if (!(fn instanceof Global))
          throw bad(`${op === 0x52 ? 'REDUCE' : 'NEWOBJ'} on something that is not a global`);
        if (!Array.isArray(args)) throw bad(`arguments of ${fn.qualified} are not a tuple`);
        stack.push(callAllowed(fn, args, op === 0x81, bad, refuse));
        break;
      }
      case 0x62: {
        // BUILD: only an OrderedDict's state ({'_metadata': …}), which carries no weights
        const state = pop();
        if (!(top() instanceof Map) || !(state instanceof Map || state === null))
          throw refuse('BUILD on a non-dict object');
        break;
      }
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw refuse(`the ${{ 0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4' }[op]} opcode`);
      default:
        throw bad(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
    }
  }
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** torch's storage persistent id: ('storage', StorageType, key, location, numel). */
function persistentLoad(pid: Value, bad: (what: string) => Error): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
    throw bad('a persistent id that is not a torch storage');
  const [, type, key, location, numel] = pid;
  if (!(type instanceof Global) || !(type.name in STORAGE_TYPES)) throw bad('a storage without a storage type');
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) throw bad(`a storage key ${JSON.stringify(key)}`);
  if (typeof location !== 'string') throw bad('a storage without a location');
  if (!isInt(numel) || numel < 0) throw bad('a storage with an invalid size');
  return { kind: 'storage', key, dtype: STORAGE_TYPES[type.name], numel, location };
}

/** Emulates one allowlisted callable on plain data. */
function callAllowed(
  fn: Global,
  args: Value[],
  newobj: boolean,
  bad: (what: string) => Error,
  refuse: (what: string) => Error,
): Value {
  const name = fn.qualified;
  if (name === 'collections.OrderedDict') {
    if (args.length !== 0) throw bad('OrderedDict built with arguments');
    return new Map();
  }
  // Storage classes are only tags inside persistent ids; instantiating one would run torch code.
  if (newobj || !name.startsWith('torch._utils.')) throw refuse(`${name}(…)`);
  if (name === 'torch._utils._rebuild_parameter' || name === 'torch._utils._rebuild_parameter_with_state') {
    const t = args[0] as { kind?: string } | undefined;
    if (!t || t.kind !== 'tensor') throw bad('a Parameter that does not wrap a tensor');
    return t;
  }
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  const [storage, offset, size, stride] = args;
  if (args.length < 6 || args.length > 7) throw bad(`_rebuild_tensor_v2 with ${args.length} arguments`);
  if (typeof storage !== 'object' || storage === null || (storage as StorageRef).kind !== 'storage')
    throw bad('a tensor without a storage');
  if (!isInt(offset) || offset < 0) throw bad('a tensor with an invalid storage offset');
  if (!Array.isArray(size) || !size.every((d) => isInt(d) && d >= 0)) throw bad('a tensor with an invalid size');
  if (!Array.isArray(stride) || stride.length !== size.length || !stride.every((d) => isInt(d) && d >= 0))
    throw bad('a tensor with an invalid stride');
  return {
    kind: 'tensor',
    storage: storage as StorageRef,
    offset,
    shape: size as number[],
    stride: stride as number[],
  } satisfies TensorRef;
}
