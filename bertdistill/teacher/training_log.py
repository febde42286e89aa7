"""Fine-tuning's curves as it runs: the training loss of every optimiser step and the validation
loss and accuracy of every epoch, logged through DVCLive (``metrics/training/`` in the pipeline):
``dvc exp show`` shows the latest step while an experiment runs, ``dvc plots show`` draws the
curves after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class TrainingLog(Protocol):
    """Where :func:`bertdistill.teacher.training.train` reports its progress."""

    def step(self, train_loss: float) -> None:
        """One optimiser step has ended with mean loss ``train_loss``."""

    def epoch(self, val_loss: float, val_accuracy: float) -> None:
        """An epoch has ended and been scored on the validation split."""


class NoLog:
    """A log that keeps nothing (tests, and every worker but the main one)."""

    def step(self, train_loss: float) -> None:
        return None

    def epoch(self, val_loss: float, val_accuracy: float) -> None:
        return None


class LiveLog:
    """A :class:`TrainingLog` over a ``dvclive.Live``: metrics are named as in
    ``metrics/teacher.json`` (``train_loss``, ``val_loss``, ``val_accuracy``), DVCLive's step is
    the optimiser step, and no timestamps are written, so the same run writes the same bytes."""

    def __init__(self, live) -> None:
        self.live = live

    def step(self, train_loss: float) -> None:
        self.live.log_metric("train_loss", round(train_loss, 6))
        self.live.next_step()  # writes metrics.json: what `dvc exp show` reads while it runs

    def epoch(self, val_loss: float, val_accuracy: float) -> None:
        self.live.log_metric("val_loss", round(val_loss, 6))
        self.live.log_metric("val_accuracy", round(val_accuracy, 6))
        self.live.make_summary()


@contextlib.contextmanager
def live_log(folder: str | Path) -> Iterator[LiveLog]:
    """A DVCLive log in ``folder`` (emptied first). ``dvc.yaml`` declares its metrics and plots,
    so DVCLive writes no ``dvc.yaml`` of its own and makes no experiment of its own: under
    ``dvc exp run`` the run is already one."""
    from dvclive import Live
    from scmrepo.exceptions import SCMError

    class _Live(Live):
        def _init_dvc(self) -> None:
            try:
                super()._init_dvc()
            except SCMError:
                # DVCLive reads git's HEAD before it checks for commits: in a repo without any
                # (`git init`, then `dvc repro`) the log is written without DVC's integration
                self._dvc_repo = None

    with _Live(dir=str(folder), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        yield LiveLog(live)
