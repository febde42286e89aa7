"""What every stage script shares: argument parsing, set-up, reading inputs, timing files."""

from __future__ import annotations

import argparse
import logging
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bertdistill.core.errors import ArgumentParser, UserError
from bertdistill.core.files import write_json
from bertdistill.core.params_file import load_params, load_seed
from bertdistill.core.runtime import seed_everything, setup_logging
from bertdistill.core.tables import LOGIT

logger = logging.getLogger(__name__)


def parser(description: str) -> argparse.ArgumentParser:
    """A stage's command line: its params file and its timing file, which every stage writes;
    the stage adds its own inputs and outputs."""
    result = ArgumentParser(description=description)
    result.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    result.add_argument(
        "--timing", required=True, help="JSON file for wall time, peak memory and throughput"
    )
    return result


def begin(args: argparse.Namespace, *, uses_torch: bool) -> tuple[dict[str, Any], int, float]:
    """Configure logging, read params and seed every random source; returns (params, seed, t0).

    ``uses_torch`` seeds torch too; a stage without torch never loads it.
    """
    setup_logging()
    params = load_params(args.params)
    seed = load_seed(params)
    seed_everything(seed, uses_torch=uses_torch)
    logger.info("arguments: %s", vars(args))
    return params, seed, time.perf_counter()


def read_frame(
    path: str | Path, columns: tuple[str, ...] = ("id", "text", "label")
) -> pd.DataFrame:
    """A split or logits table, with ``columns``."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a parquet table: pass the table's file")
    if not path.is_file():
        raise UserError(f"{path} not found: run the stage that writes it (`dvc repro`)")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(error).splitlines()[0].rsplit("': ", 1)[-1]  # without arrow's path prefix
        raise UserError(
            f"{path} is not a parquet table ({reason}): run the stage that writes it "
            f"(`dvc repro -f`)"
        ) from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(f"{path} has no '{missing[0]}' column: re-run `dvc repro -f` on its stage")
    return frame


def read_with_logits(texts_path: str | Path, logits_path: str | Path) -> pd.DataFrame:
    """A split joined with the teacher's logits by row id; a row without a logit means the
    logits are stale, which is one clear error (never silently dropped rows)."""
    frame = read_frame(texts_path)
    logits = read_frame(logits_path, columns=("id",))
    columns = [name for name in logits.columns if name == LOGIT or name.startswith(f"{LOGIT}_")]
    if not columns:
        raise UserError(
            f"{logits_path} has no '{LOGIT}' column: re-run `dvc repro -f` on its stage"
        )
    if logits["id"].duplicated().any():
        raise UserError(f"{logits_path} repeats row ids: re-run `dvc repro label_with_teacher`")
    joined = frame.merge(logits[["id", *columns]], on="id", how="left")
    missing = int(joined[columns].isna().any(axis=1).sum())
    if missing:
        raise UserError(
            f"{logits_path} lacks logits for {missing} rows of {texts_path}: "
            f"re-run `dvc repro label_with_teacher`"
        )
    return joined


def write_timing(path: str | Path, started: float, **extra: float | str) -> None:
    """Wall time, peak memory and throughput, kept apart from quality metrics (they vary run to
    run)."""
    seconds = time.perf_counter() - started
    peak_mib = peak_rss_mib()
    write_json(
        path,
        {
            "wall_seconds": round(seconds, 2),
            "peak_rss_mib": round(peak_mib, 1),
            **extra,
            "machine": platform.machine(),
        },
    )
    logger.info("done in %.1f s, peak memory %.0f MiB", seconds, peak_mib)


def peak_rss_mib() -> float:
    """This program's peak resident memory in MiB.

    Linux's VmHWM belongs to the running program. getrusage's ru_maxrss also keeps the peak of
    the process that forked and exec'd it (DVC's, when DVC starts the stage), so it is only the
    fallback where there is no /proc (KiB on Linux, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024
