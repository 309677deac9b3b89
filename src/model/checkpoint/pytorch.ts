// Reader for `pytorch_model.bin` as torch.save (PyTorch ≥ 1.6, "zipfile serialization") writes it.
// Reference: torch/serialization.py (_save, _load) and caffe2/serialize/inline_container.h.
// Layout: a zip archive whose entries all sit under one folder (`archive/` when saved to a stream,
// often the file's stem when saved to a path):
//   <prefix>/data.pkl          the state dict, pickled (protocol 2): OrderedDict name → tensor, each
//                              tensor a _rebuild_tensor_v2(storage, offset, size, stride, …) whose
//                              storage is a persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
//   <prefix>/data/<key>        the raw little-endian bytes of each storage (stored, 64-byte aligned)
//   <prefix>/byteorder         'little' (PyTorch ≥ 2.1; absent = little)
//   <prefix>/version           format version, e.g. '3\n'
// The pickle goes through the restricted interpreter in pickle.ts (it never runs code). Storages
// are read with positioned reads, so files over 2 GiB load; a stored (uncompressed) storage is read
// straight from the file, a deflated one (unusual) is inflated whole.

import { closeSync, fstatSync } from 'node:fs';
import { CheckpointError } from '../../errors.ts';
import { decodeInto, DTYPE_BYTES, isReadableDType, STORAGE_DTYPE_BYTES } from '../../tensor/dtype.ts';
import { numel, type Tensor } from '../../tensor/tensor.ts';
import { checkFiniteRange, readBytes, readTensorAt, refuseLfsPointer, type ReadOptions } from './io.ts';
import { unpickle, type TensorRef } from './pickle.ts';
import { openOrThrow } from './safetensors.ts';
import type { CheckpointFile, StoredTensor } from './source.ts';
import { entryDataOffset, readZipDirectory, readZipEntry, type ZipEntry } from './zip.ts';

interface Located {
  readonly ref: TensorRef;
  readonly entry: ZipEntry;
}

/** Opens and validates a torch.save zip at `path` (`file` = its name relative to the model folder). */
export function openPytorchFile(path: string, file: string): CheckpointFile {
  const fd = openOrThrow(path);
  try {
    return open(fd, file);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function open(fd: number, file: string): CheckpointFile {
  const size = fstatSync(fd).size;
  const bad = (what: string) =>
    new CheckpointError(`${file}: ${what}; the file is damaged or not a torch.save checkpoint — download it again`);
  refuseLfsPointer(fd, size, file);
  if (size < 4) throw bad(`only ${size} bytes`);
  const magic = readBytes(fd, 4, 0, file);
  if (magic.readUInt32LE(0) !== 0x04034b50) {
    // 0x80 = pickle PROTO: torch.save's legacy (pre-1.6) format, a bare pickle stream.
    if (magic[0] === 0x80) {
      throw new CheckpointError(
        `${file} is in PyTorch's legacy (pre-1.6) format, which langquant does not read; re-save it with a recent torch.save or convert it to safetensors`,
      );
    }
    throw bad('it is not a zip archive');
  }
  const entries = readZipDirectory(fd, size, file);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw bad(pkls.length ? 'it holds more than one data.pkl' : 'it holds no <folder>/data.pkl');
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  const byteorder = entries.get(prefix + 'byteorder');
  if (byteorder && readZipEntry(fd, byteorder, size, file).toString('latin1').trim() !== 'little') {
    throw new CheckpointError(
      `${file} was saved on a big-endian machine; langquant reads little-endian checkpoints only — re-save it on a little-endian machine or convert it to safetensors`,
    );
  }
  const root = unpickle(readZipEntry(fd, entries.get(pkls[0])!, size, file), file);
  if (!(root instanceof Map)) throw bad('its pickle is not a dict of tensors (a state dict)');

  const located = new Map<string, Located>();
  const tensors = new Map<string, StoredTensor>();
  for (const [name, value] of root) {
    if (typeof name !== 'string') throw bad('its state dict has a key that is not a string');
    const ref = value as TensorRef;
    if (typeof ref !== 'object' || ref === null || ref.kind !== 'tensor') {
      throw new CheckpointError(
        `${file}: entry "${name}" is not a tensor; a pytorch_model.bin should hold only a state dict of tensors (save model.state_dict())`,
      );
    }
    const st = ref.storage;
    const entry = entries.get(`${prefix}data/${st.key}`);
    if (!entry) throw bad(`tensor "${name}" refers to storage ${st.key}, which is missing from the archive`);
    const storageBytes = st.numel * STORAGE_DTYPE_BYTES[st.dtype];
    if (entry.size !== storageBytes) {
      throw bad(`storage ${st.key} holds ${entry.size} bytes but ${st.numel} ${st.dtype} values need ${storageBytes}`);
    }
    // A tensor must be a contiguous row-major block of its storage: langquant reads it in one run.
    const n = numel(ref.shape);
    let expect = 1;
    for (let d = ref.shape.length - 1; d >= 0; d--) {
      // A dimension of length 1 never steps, so its stride is free (PyTorch leaves it arbitrary).
      if (ref.shape[d] !== 1 && ref.stride[d] !== expect) {
        throw new CheckpointError(
          `${file}: tensor "${name}" is not contiguous (shape [${ref.shape.join(', ')}], stride [${ref.stride.join(', ')}]); re-save it with tensor.contiguous() or convert the checkpoint to safetensors`,
        );
      }
      expect *= ref.shape[d];
    }
    if (n > 0 && ref.offset + n > st.numel) {
      throw bad(
        `tensor "${name}" reads elements ${ref.offset}…${ref.offset + n - 1} of storage ${st.key}, which has ${st.numel}`,
      );
    }
    located.set(name, { ref, entry });
    tensors.set(name, { name, dtype: st.dtype, shape: [...ref.shape], file });
  }

  // Deflated storages are inflated once and shared by the tensors that view them.
  const inflated = new Map<string, Buffer>();
  return {
    tensors,
    read(name: string, opts: ReadOptions = {}): Tensor {
      const loc = located.get(name);
      if (!loc) throw new Error(`${file} has no tensor "${name}"`);
      const { ref, entry } = loc;
      const dtype = ref.storage.dtype;
      if (entry.method === 0) {
        const at = entryDataOffset(fd, entry, size, file) + ref.offset * STORAGE_DTYPE_BYTES[dtype];
        return readTensorAt(fd, at, dtype, ref.shape, file, name, opts);
      }
      if (!isReadableDType(dtype)) return readTensorAt(fd, 0, dtype, ref.shape, file, name); // throws the dtype error
      let bytes = inflated.get(entry.name);
      if (!bytes) {
        bytes = readZipEntry(fd, entry, size, file);
        inflated.set(entry.name, bytes);
      }
      const w = DTYPE_BYTES[dtype];
      const data = new Float32Array(numel(ref.shape));
      decodeInto(data, bytes.subarray(ref.offset * w, (ref.offset + data.length) * w), dtype);
      const t = { data, shape: [...ref.shape] };
      if (opts.finite) checkFiniteRange(t, 0, data.length, file, name); // inflated whole: checked whole
      return t;
    },
    close: () => closeSync(fd),
  };
}
