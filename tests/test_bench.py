"""Benchmark scripts run end to end in their smoke mode (the scripts, not their measurements)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from support import ROOT


def keys(data: object) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(data, dict):
        return set(data) | {key for value in data.values() for key in keys(value)}
    if isinstance(data, list):
        return {key for value in data for key in keys(value)}
    return set()


@pytest.mark.slow
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
    for stage in ("prepare", "distill_students", "distill_trees", "evaluate"):
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


def test_guided_ranking_builds_both_variants_from_full_occlusions_drops(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from guided_ranking import guided_variants

    from bertdistill.explain.attributions import Attribution

    guide = Attribution({"a": 4.0, "b": -3.0, "c": 2.0, "d": 1.0, "e": -0.5})
    full = Attribution({"a": 0.1, "b": -0.2, "c": 0.3, "d": 0.05, "e": 0.0})
    variants = guided_variants([guide], [full], 0.4)  # 2 of 5 words: the guide's a and b
    [raw] = variants["guided_40_raw"]
    assert raw.words == {"a": 0.1, "b": -0.2, "c": 2.0, "d": 1.0, "e": -0.5}
    [first] = variants["guided_40_first"]
    assert (first.words["a"], first.words["b"]) == (0.1, -0.2)
    scale = 0.5 * 0.1 / 4.0  # half the smallest drop over the guide's largest magnitude
    assert first.words["c"] == 2.0 * scale and first.words["e"] == -0.5 * scale
    assert raw.ranked(1, seed=0)[0] == "c" and first.ranked(1, seed=0)[0] == "a"
