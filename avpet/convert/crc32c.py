"""CRC-32C (Castagnoli), the checksum of TensorFlow's checkpoint files, in numpy.

A byte-at-a-time CRC in Python would take minutes on a 1 GB checkpoint, so the data is cut into
``K`` equal chunks whose CRC registers are advanced together, one byte column at a time, then
merged pairwise: the register after ``n`` zero bytes is a linear map of the register over GF(2)
(a 32×32 bit matrix), which joins ``crc(A)`` and ``crc(B)`` into ``crc(A + B)``.
"""

from __future__ import annotations

import math

import numpy as np

POLY = 0x82F63B78  # reflected Castagnoli polynomial
MASK_DELTA = 0xA282EAD8


def _table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(POLY), table >> 1).astype(np.uint32)
    return table


TABLE = _table()
# the register after one zero byte, as the images of the 32 unit vectors
_ONE_ZERO_BYTE = TABLE[np.uint32(1) << np.arange(32, dtype=np.uint32) & 0xFF] ^ (
    (np.uint32(1) << np.arange(32, dtype=np.uint32)) >> 8
)


def _apply(columns: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The GF(2) matrix with these 32 ``columns`` applied to each uint32 of ``x``."""
    out = np.zeros_like(x)
    for bit in range(32):
        out ^= np.where((x >> np.uint32(bit)) & 1, columns[bit], np.uint32(0))
    return out


def _zeros_operator(n: int) -> np.ndarray:
    """Columns of the map "advance the register over ``n`` zero bytes" (square and multiply)."""
    result = np.uint32(1) << np.arange(32, dtype=np.uint32)  # identity
    power = _ONE_ZERO_BYTE.copy()
    while n:
        if n & 1:
            result = _apply(power, result)
        power = _apply(power, power)
        n >>= 1
    return result


def _register(data: np.ndarray) -> int:
    """The CRC register after ``data`` starting from 0 (no initial value, no final xor)."""
    n = data.size
    if n == 0:
        return 0
    length = max(1, math.isqrt(n))
    chunks = 1 << max(0, math.ceil(math.log2(math.ceil(n / length))))
    # leading zero bytes leave a zero register unchanged
    padded = np.zeros(chunks * length, dtype=np.uint8)
    padded[chunks * length - n :] = data
    columns = np.ascontiguousarray(padded.reshape(chunks, length).T)
    registers = np.zeros(chunks, dtype=np.uint32)
    for column in columns:
        registers = TABLE[(registers ^ column) & 0xFF] ^ (registers >> 8)
    while registers.size > 1:  # crc(A + B) = zeros(len B)(crc A) ^ crc B
        shift = _zeros_operator(length)
        registers = _apply(shift, registers[0::2]) ^ registers[1::2]
        length *= 2
    return int(registers[0])


def crc32c(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    array = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    array = array.reshape(-1).view(np.uint8)
    initial = _apply(_zeros_operator(array.size), np.array([0xFFFFFFFF], dtype=np.uint32))[0]
    return (int(initial) ^ _register(array)) ^ 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Undo LevelDB / TensorFlow's checksum masking (``rot15(crc) + 0xa282ead8``)."""
    rotated = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF
