"""What this machine can do, measured inside a benchmark run so timings can be read as ratios."""

from __future__ import annotations

import statistics
import time

import torch


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Median fp32 GFLOP/s of a square matrix multiply on this process's threads."""
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator)
    right = torch.randn(size, size, generator=generator)
    for _ in range(3):
        left @ right
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        left @ right
        seconds.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(seconds) / 1e9
