"""Reader of TensorFlow checkpoints (the TensorBundle format) without TensorFlow.

A checkpoint ``PREFIX`` is ``PREFIX.index`` plus ``PREFIX.data-SSSSS-of-NNNNN`` shards. The index
is an immutable sorted table (LevelDB's SSTable layout, as in TensorFlow's ``core/lib/io/table``):

* a 48-byte footer: the block handles (varint offset, varint size) of the meta-index and index
  blocks, zero padding, the magic number ``0xdb4775248b80fb57``;
* blocks of prefix-compressed entries (varint shared, varint unshared, varint value length, key
  suffix, value) ending in a restart array, each followed by a 5-byte trailer: compression type
  (0 = none, the only one TensorFlow writes for bundles) and the masked CRC-32C of block + type;
* the index block maps the last key of every data block to that block's handle.

Values are protocol buffers: the empty key holds ``BundleHeaderProto`` (num_shards 1, endianness
2), every other key a tensor's ``BundleEntryProto`` (dtype 1, shape 2, shard_id 3, offset 4,
size 5, crc32c 6 masked, slices 7). A tensor is ``size`` raw little-endian bytes at ``offset`` in
its shard; its checksum is verified on every read.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .crc32c import crc32c, unmask

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
TRAILER_BYTES = 5
# TensorFlow DataType enum -> numpy dtype (strings are not tensors a model holds)
DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    17: np.uint16,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}
DT_STRING = 7


@dataclass(frozen=True)
class Entry:
    """Where one tensor lives: dtype enum, shape, shard, byte range and masked checksum."""

    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int | None
    sliced: bool


def _varint(buf: bytes, pos: int, origin: Path) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CheckpointError(origin, "corrupt index: varint runs past its record")
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            return result, pos


def _fields(buf: bytes, origin: Path) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message; length-delimited values as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos, origin)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, origin)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, origin)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise CheckpointError(origin, f"corrupt index: protobuf wire type {wire}")
        if pos > len(buf):
            raise CheckpointError(origin, "corrupt index: protobuf field runs past its record")
        out.append((number, value))
    return out


def _entry(value: bytes, origin: Path) -> Entry:
    fields: dict[int, int | bytes] = {}
    sliced = False
    shape: list[int] = []
    for number, field in _fields(value, origin):
        if number == 2:  # TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}
            for dim_number, dim in _fields(field, origin):
                if dim_number == 2:
                    size = dict(_fields(dim, origin)).get(1, 0)
                    shape.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif number == 7:
            sliced = True
        else:
            fields[number] = field
    return Entry(
        dtype=int(fields.get(1, 0)),
        shape=tuple(shape),
        shard=int(fields.get(3, 0)),
        offset=int(fields.get(4, 0)),
        size=int(fields.get(5, 0)),
        crc32c=fields.get(6),
        sliced=sliced,
    )


class TensorBundle:
    """The tensors of a TF checkpoint ``PREFIX`` (``PREFIX.index`` + data shards), by name.

    ``names()`` lists every entry; ``read(name)`` returns a numpy array after checking its bytes
    against the recorded CRC-32C. Any damage (truncation, bad magic or checksum) raises
    :class:`CheckpointError` naming the file.
    """

    def __init__(self, prefix: str | Path):
        prefix = Path(prefix)
        if prefix.suffix == ".index" or ".data-" in prefix.name:
            prefix = prefix.with_name(prefix.name.split(".index")[0].split(".data-")[0])
        self.prefix = prefix
        self.index = prefix.with_name(prefix.name + ".index")
        if not self.index.is_file():
            raise CheckpointError(self.index, "no such file (a TF checkpoint is PREFIX.index)")
        raw = self.index.read_bytes()
        self.entries: dict[str, Entry] = {}
        self.num_shards = 1
        for key, value in self._table(raw):
            if key == b"":
                header = dict(_fields(value, self.index))
                self.num_shards = int(header.get(1, 1))
                if header.get(2, 0) != 0:
                    raise CheckpointError(self.index, "big-endian checkpoints are not supported")
            else:
                self.entries[key.decode("utf-8", "replace")] = _entry(value, self.index)
        self._shards: dict[int, mmap.mmap | bytes] = {}

    def names(self) -> list[str]:
        return sorted(self.entries)

    def shard_path(self, shard: int) -> Path:
        return self.prefix.with_name(
            f"{self.prefix.name}.data-{shard:05d}-of-{self.num_shards:05d}"
        )

    def read(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a (copied) numpy array, checksum verified."""
        entry = self.entries[name]
        shard = self.shard_path(entry.shard)
        if entry.sliced:
            raise CheckpointError(shard, f"{name}: partitioned (sliced) variables are unsupported")
        if entry.dtype == DT_STRING:
            raise CheckpointError(shard, f"{name}: a string tensor, not a weight")
        if entry.dtype not in DTYPES:
            raise CheckpointError(shard, f"{name}: unsupported dtype enum {entry.dtype}")
        data = self._data(entry.shard)
        if entry.offset + entry.size > len(data):
            raise CheckpointError(
                shard,
                f"truncated: {name} needs bytes {entry.offset}..{entry.offset + entry.size}, "
                f"the file has {len(data)}",
            )
        # a copy, not a view: a view alive in an error's traceback would keep the map open
        chunk = np.frombuffer(data[entry.offset : entry.offset + entry.size], dtype=np.uint8)
        if entry.crc32c is not None and crc32c(chunk) != unmask(int(entry.crc32c)):
            raise CheckpointError(shard, f"corrupt: checksum of {name} does not match the index")
        dtype = np.dtype(DTYPES[entry.dtype]).newbyteorder("<")
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != entry.size:
            raise CheckpointError(
                shard, f"{name}: {entry.size} bytes do not hold shape {entry.shape} of {dtype}"
            )
        return chunk.view(dtype).reshape(entry.shape).astype(dtype.newbyteorder("="))

    def close(self) -> None:
        for data in self._shards.values():
            if isinstance(data, mmap.mmap):
                data.close()
        self._shards.clear()

    def __enter__(self) -> TensorBundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _data(self, shard: int) -> mmap.mmap | bytes:
        if shard not in self._shards:
            path = self.shard_path(shard)
            if not path.is_file():
                raise CheckpointError(path, "missing data shard of the checkpoint")
            with open(path, "rb") as handle:  # the map outlives the file object
                empty = path.stat().st_size == 0
                self._shards[shard] = (
                    b"" if empty else mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                )
        return self._shards[shard]

    # ---- SSTable -------------------------------------------------------------------------

    def _table(self, raw: bytes):
        """Every (key, value) of the index table, in order."""
        if len(raw) < FOOTER_BYTES:
            raise CheckpointError(self.index, f"truncated: {len(raw)} bytes, no table footer")
        footer = raw[-FOOTER_BYTES:]
        if struct.unpack("<Q", footer[-8:])[0] != TABLE_MAGIC:
            raise CheckpointError(self.index, "not a TensorFlow checkpoint index (bad magic)")
        _, pos = self._handle(footer, 0)  # meta-index: empty in bundles
        index_handle, _ = self._handle(footer, pos)
        for _, handle_bytes in self._block(raw, index_handle):
            block_handle, _ = self._handle(handle_bytes, 0)
            yield from self._block(raw, block_handle)

    def _handle(self, buf: bytes, pos: int) -> tuple[tuple[int, int], int]:
        offset, pos = _varint(buf, pos, self.index)
        size, pos = _varint(buf, pos, self.index)
        return (offset, size), pos

    def _block(self, raw: bytes, handle: tuple[int, int]):
        offset, size = handle
        end = offset + size
        if end + TRAILER_BYTES > len(raw):
            raise CheckpointError(self.index, "truncated: a table block runs past the file")
        block, kind = raw[offset:end], raw[end]
        (masked,) = struct.unpack("<I", raw[end + 1 : end + TRAILER_BYTES])
        if crc32c(raw[offset : end + 1]) != unmask(masked):
            raise CheckpointError(self.index, f"corrupt: checksum of the table block at {offset}")
        if kind != 0:
            raise CheckpointError(self.index, f"compressed table blocks (type {kind}) unsupported")
        if len(block) < 4:
            raise CheckpointError(self.index, "corrupt: table block without a restart array")
        (restarts,) = struct.unpack("<I", block[-4:])
        limit = len(block) - 4 * (restarts + 1)
        if limit < 0:
            raise CheckpointError(self.index, "corrupt: restart array larger than its block")
        pos, key = 0, b""
        while pos < limit:
            shared, pos = _varint(block, pos, self.index)
            unshared, pos = _varint(block, pos, self.index)
            length, pos = _varint(block, pos, self.index)
            if shared > len(key) or pos + unshared + length > limit:
                raise CheckpointError(self.index, "corrupt: table entry runs past its block")
            key = key[:shared] + block[pos : pos + unshared]
            pos += unshared
            yield key, block[pos : pos + length]
            pos += length
