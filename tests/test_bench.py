"""Benchmark scripts run end to end in their smoke mode (the scripts, not their measurements)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def keys(data: object) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(data, dict):
        return set(data) | {key for value in data.values() for key in keys(value)}
    if isinstance(data, list):
        return {key for value in data for key in keys(value)}
    return set()


def test_paper_scale_cpu_smoke_times_the_cpu_stages_and_records_no_quality(tmp_path):
    out = tmp_path / "result.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "paper_scale_cpu.py"),
            "--smoke",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bench = json.loads(out.read_text())
    for stage in ("prepare", "distill_students", "evaluate"):
        assert bench["stages"][stage]["wall_seconds"] > 0
        assert bench["stages"][stage]["peak_rss_mib"] > 0
    # --smoke's sizes: 40 labelled reviews, 60 unlabelled, 30 test, each labelled one augmented.
    n_augment = yaml.safe_load((ROOT / "params.yaml").read_text())["augment"]["n_augment"]
    assert (bench["labelled_size"], bench["unlabeled_size"], bench["test_size"]) == (40, 60, 30)
    assert bench["augmented_size"] == 40 * n_augment
    assert bench["transfer_size"] == 40 + 60 + 40 * n_augment
    assert bench["seeds"] == 2
    assert "stand-in" in bench["note"]
    quality = [key for key in keys(bench) if re.search("accura|f1|auc|agreement|mcnemar|_vs_", key)]
    assert not quality, f"stand-in logits give no quality figures, yet {quality} were recorded"
