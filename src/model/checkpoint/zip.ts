// A read-only zip reader over positioned reads, enough for torch.save archives (which are plain zips,
// entries usually stored uncompressed and 64-byte aligned). Reference: PKWARE APPNOTE.TXT 6.3 —
// §4.3.16 end of central directory, §4.3.14/15 ZIP64 end record and locator, §4.3.12 central
// directory header, §4.3.7 local file header, §4.5.3 ZIP64 extra field (id 0x0001).
// The central directory is authoritative for sizes and offsets; the local header only tells where the
// data begins (its name and extra field lengths may differ from the central copy).

import { inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../../errors.ts';
import { readBytes } from './io.ts';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflated. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

/** Reads the central directory of the zip open as `fd` (`size` bytes; `file` labels errors). */
export function readZipDirectory(fd: number, size: number, file: string): Map<string, ZipEntry> {
  const bad = (what: string) =>
    new CheckpointError(`${file}: ${what}; the file is damaged or not a PyTorch checkpoint — download it again`);
  if (size < 22) throw bad('too short to be a zip archive');
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes: search backwards.
  const tailLen = Math.min(size, 22 + 65535);
  const tail = readBytes(fd, tailLen, size - tailLen, file);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no zip end-of-central-directory record (truncated?)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  // ZIP64: a locator 20 bytes before the end record points at the 64-bit end record.
  const eocdPos = size - tailLen + eocd;
  if (eocdPos >= 20) {
    const loc = readBytes(fd, 20, eocdPos - 20, file);
    if (loc.readUInt32LE(0) === SIG_EOCD64_LOCATOR) {
      const at = safe(loc.readBigUInt64LE(8), bad);
      const rec = readBytes(fd, 56, at, file);
      if (rec.readUInt32LE(0) !== SIG_EOCD64) throw bad('ZIP64 end record is missing');
      count = safe(rec.readBigUInt64LE(32), bad);
      cdSize = safe(rec.readBigUInt64LE(40), bad);
      cdOffset = safe(rec.readBigUInt64LE(48), bad);
    }
  }
  if (cdOffset + cdSize > size) throw bad('central directory lies outside the file (truncated?)');
  if (cdSize > 512 * 1024 * 1024) throw bad(`central directory of ${cdSize} bytes is implausibly large`);
  const cd = readBytes(fd, cdSize, cdOffset, file);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) throw bad(`central directory entry ${i} is damaged`);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc32 = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let sizeU = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length)
      throw bad(`central directory entry ${i} overruns the directory`);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // ZIP64 extra field: the 64-bit values, in this order, for each 32-bit field that reads 0xFFFFFFFF.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        const next = () => {
          if (q + 8 > x + 4 + len) throw bad(`ZIP64 field of "${name}" is too short`);
          const v = safe(cd.readBigUInt64LE(q), bad);
          q += 8;
          return v;
        };
        if (sizeU === 0xffffffff) sizeU = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      x += 4 + len;
    }
    if (flags & 1) throw bad(`entry "${name}" is encrypted`);
    if (method !== 0 && method !== 8)
      throw bad(`entry "${name}" uses compression method ${method}; only stored and deflated entries are supported`);
    if (localHeaderOffset + 30 + compressedSize > size) throw bad(`entry "${name}" lies outside the file (truncated?)`);
    if (entries.has(name)) throw bad(`entry "${name}" appears twice`);
    entries.set(name, { name, method, flags, crc32, compressedSize, size: sizeU, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function safe(v: bigint, bad: (what: string) => Error): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('a ZIP64 size or offset is out of range');
  return Number(v);
}

/** Absolute position of the entry's (possibly compressed) data, from its local header. */
export function entryDataOffset(fd: number, e: ZipEntry, size: number, file: string): number {
  const h = readBytes(fd, 30, e.localHeaderOffset, file);
  if (h.readUInt32LE(0) !== SIG_LOCAL) {
    throw new CheckpointError(`${file}: local header of "${e.name}" is damaged; download the file again`);
  }
  const at = e.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  if (at + e.compressedSize > size)
    throw new CheckpointError(
      `${file}: data of "${e.name}" runs past the end of the file (truncated); download it again`,
    );
  return at;
}

/** Limit for entries read whole into memory (data.pkl, deflated storages). */
export const MAX_WHOLE_ENTRY_BYTES = 1024 * 1024 * 1024;

/** The whole uncompressed content of a (small) entry, CRC-checked. */
export function readZipEntry(fd: number, e: ZipEntry, size: number, file: string): Buffer {
  if (e.size > MAX_WHOLE_ENTRY_BYTES || e.compressedSize > MAX_WHOLE_ENTRY_BYTES) {
    throw new CheckpointError(
      `${file}: entry "${e.name}" is ${e.size} bytes, too large to read whole; re-save the checkpoint uncompressed or as safetensors`,
    );
  }
  const raw = readBytes(fd, e.compressedSize, entryDataOffset(fd, e, size, file), file);
  let data: Buffer;
  if (e.method === 0) data = raw;
  else {
    try {
      data = inflateRawSync(raw);
    } catch (err) {
      throw new CheckpointError(
        `${file}: entry "${e.name}" does not inflate (${(err as Error).message}); download the file again`,
      );
    }
  }
  if (data.length !== e.size)
    throw new CheckpointError(
      `${file}: entry "${e.name}" holds ${data.length} bytes, the directory says ${e.size}; download the file again`,
    );
  if (crc32(data) !== e.crc32)
    throw new CheckpointError(`${file}: entry "${e.name}" fails its CRC check; download the file again`);
  return data;
}

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected, as zip uses); `prev` continues a running checksum. */
export function crc32(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
