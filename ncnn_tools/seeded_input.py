"""The runner's seeded input, reproduced exactly in Python (so host NCNN can be fed the very same tensor).

A 32-bit LCG (Numerical Recipes constants) starting at `seed`; each step's top 24 bits k give k / 2^23 - 1,
a uniform value in [-1, 1) that float32 holds exactly. Values fill the tensor in C, H, W order.
"""

from __future__ import annotations

import numpy as np

_A = 1664525
_C = 1013904223


def seeded_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A contiguous float32 array of `shape` (e.g. (C, H, W)) equal to what `edgebench-runner --seed` feeds."""
    count = int(np.prod(shape))
    states = np.empty(count, dtype=np.uint64)
    state = seed & 0xFFFFFFFF
    # Jump in blocks: x_{n+k} = A^k x_n + C (A^(k-1) + ... + 1) mod 2^32, vectorised over k = 1..block.
    block = min(count, 4096)
    mult = np.empty(block, dtype=np.uint64)
    add = np.empty(block, dtype=np.uint64)
    m, a = 1, 0
    for k in range(block):
        m = (m * _A) & 0xFFFFFFFF
        a = (a * _A + _C) & 0xFFFFFFFF
        mult[k], add[k] = m, a
    for start in range(0, count, block):
        n = min(block, count - start)
        states[start:start + n] = (mult[:n] * np.uint64(state) + add[:n]) & np.uint64(0xFFFFFFFF)
        state = int(states[start + n - 1])
    values = (states >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 8388608.0) - np.float32(1.0)
    return np.ascontiguousarray(values.reshape(shape), dtype=np.float32)
