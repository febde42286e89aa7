"""Logging and seeding, set up once at the start of every stage and tool."""

from __future__ import annotations

import logging
import random
import sys

import numpy as np


def setup_logging() -> None:
    """Configure logging once, from a stage's ``main``.

    transformers is turned down to errors: its load report would flag the pooler weights that a
    mean- or cls-pooled encoder deliberately leaves out, and its progress bars add nothing.
    """
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if "transformers" not in sys.modules:  # a stage that does not use it never imports it
        return
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def seed_everything(seed: int, *, uses_torch: bool) -> None:
    """Seed Python, NumPy and, for a stage that uses it, torch, so a stage is repeatable on CPU.

    Whether torch is seeded is the caller's word, not whether something imported it before: a
    stage without torch (evaluate) never loads it, and one with it is seeded whatever the order.
    """
    random.seed(seed)
    np.random.seed(seed)
    if uses_torch:
        import torch

        torch.manual_seed(seed)
