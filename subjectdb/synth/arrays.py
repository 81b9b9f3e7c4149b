"""Vectorised building blocks of the generator: ASCII matrices and Arrow string columns, and
weighted random draws (numpy; no Python loop per row)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from subjectdb.synth import profiles as prof


def strings(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, width) uint8 ASCII matrix as a string array."""
    n, width = mat.shape
    data = np.ascontiguousarray(mat, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def digits(values: np.ndarray, width: int) -> np.ndarray:
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64).copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = 48 + v % 10
        v //= 10
    return out


def timestamps(secs: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(secs.astype(np.int64), type=pa.timestamp("s"), mask=mask)
    return arr.cast(pa.string())


def dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=mask).cast(pa.string())


def ints(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), mask=mask).cast(pa.string())


def take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(pa.array(idx.astype(np.int64)))


def join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def const(value: str | None, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, type=pa.string()), n)


def choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Weighted draws (vectorised inverse CDF)."""
    cum = np.cumsum(np.asarray(weights, dtype=float))
    if size == 0 or cum[-1] <= 0:
        return np.zeros(size, dtype=np.int64)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(cum) - 1)


def hours(rng: np.random.Generator, profile: np.ndarray, size: int) -> np.ndarray:
    hour = choice(rng, profile, size)
    return hour * 3600 + rng.integers(0, 3600, size)


def county_weights(rng: np.random.Generator, urban: np.ndarray, density: float) -> np.ndarray:
    w = np.where(urban, density, 1.0) * rng.lognormal(0.0, 0.45, len(urban))
    return w / w.sum()


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    seconds = np.array(list(prof.PHONE_SECOND_DIGIT))
    p = np.array(list(prof.PHONE_SECOND_DIGIT.values()))
    second = seconds[choice(rng, p, n)]
    return 10_000_000_000 + second * 1_000_000_000 + rng.integers(0, 1_000_000_000, n)


def draw_cum(rng: np.random.Generator, cum: np.ndarray, size: int) -> np.ndarray:
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(cum) - 1)


def scatter(n: int, parts: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Assemble a string array of length n from (positions, values) parts covering 0..n-1."""
    if not parts:
        return const(None, n)
    positions = np.concatenate([pos for pos, _ in parts])
    values = pa.concat_arrays([v.cast(pa.string()) for _, v in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[positions] = np.arange(len(positions))
    return values.take(pa.array(inverse))
