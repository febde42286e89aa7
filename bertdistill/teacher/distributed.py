"""Data-parallel inference under torchrun or `accelerate launch`, and plain one-process runs.

Both launchers set RANK / WORLD_SIZE / LOCAL_RANK and a rendezvous address; with them present a
stage joins the process group, works on its shard, and gathers results in the input order. With
them absent everything runs in this process, so the same command works either way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workers:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


SINGLE = Workers(rank=0, world_size=1, local_rank=0)


def init_workers() -> Workers:
    """Join the process group a launcher set up, or run alone when there is none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return SINGLE
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    workers = Workers(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    if workers.device().type == "cuda":
        torch.cuda.set_device(workers.device())
    logger.info("worker %d of %d on %s", workers.rank, workers.world_size, workers.device())
    return workers


def finish(workers: Workers) -> None:
    if workers.world_size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sharded(
    predict: Callable[[np.ndarray], np.ndarray], lengths: Sequence[int], workers: Workers
) -> np.ndarray:
    """Run ``predict(indices) -> values`` on this worker's shard and gather every worker's values
    into input order.

    Shards interleave the length-sorted order, so every worker gets a similar token count.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    mine = order[workers.rank :: workers.world_size]
    gathered = [(mine, predict(mine))]
    if workers.world_size > 1:
        local, gathered = gathered[0], [None] * workers.world_size
        dist.all_gather_object(gathered, local)
    shape = gathered[0][1].shape[1:]  # one value per text, or a row of them (K logits)
    values = np.empty((len(lengths), *shape), dtype=np.float32)
    for indices, shard_values in gathered:
        values[indices] = shard_values
    return values
