"""Each model's test accuracy on the texts the teacher read whole and on the texts it cut to its
token limit (`finetune_teacher.max_len`), and each student minus the teacher within each group,
with paired 95% bootstrap intervals and McNemar's exact test. A student reads every word of a
text; the teacher reads at most max_len tokens of it: this says where a student's lead over its
teacher, or its gap, comes from. With `--reread N` the same teacher (same weights, head and tail
as trained) labels the cut texts again reading up to N tokens, and the cut group gains its
accuracy (`cut_teacher_N_accuracy`), its change from the teacher's own (`cut_teacher_N_vs_teacher`)
and each student minus it (`cut_<student>_vs_teacher_N`): does reading more close the gap?

Run from the root of a run that `evaluate` has finished (its test split, teacher folder and
per-text confusion rows in the working tree):

    python tools/truncation.py                                  # prints the table
    python tools/truncation.py --out metrics/truncation.json    # and writes it as JSON
    python tools/truncation.py --reread 512 --out metrics/truncation.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import write_json
from bertdistill.core.logits import predicted_classes
from bertdistill.core.params import BatchingParams, ClassesParams
from bertdistill.core.params_file import load_params, load_section
from bertdistill.core.registry import MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.core.runtime import setup_logging
from bertdistill.core.stage import read_frame
from bertdistill.core.tables import frame_texts
from bertdistill.core.texts import Text
from bertdistill.evaluation.experiments import CONFUSION
from bertdistill.evaluation.statistics import mcnemar_exact, mean_intervals, paired_difference
from bertdistill.teacher.files import CONFIG_FILE, SPEC_FILE

logger = logging.getLogger("truncation")
GROUPS = ("whole", "cut")  # texts within the teacher's token limit, and texts beyond it


def token_counts(tokenizer, texts: list[Text]) -> np.ndarray:
    """Tokens of each text without the special ones; a pair's: both texts'."""

    def counts(parts: list[str]) -> np.ndarray:
        ids = tokenizer(parts, add_special_tokens=False, verbose=False)["input_ids"]
        return np.array([len(row) for row in ids], dtype=np.int64)

    if texts and isinstance(texts[0], tuple):
        return counts([first for first, _ in texts]) + counts([second for _, second in texts])
    return counts(list(texts))


def cut_texts(tokens: np.ndarray, max_len: int, pairs: bool) -> np.ndarray:
    """Which texts the teacher cut: [CLS] text [SEP] (a pair: [CLS] a [SEP] b [SEP]) longer
    than ``max_len``."""
    return tokens + (3 if pairs else 2) > max_len


def versus(prefix: str, values: dict, accuracy: dict, samples: dict, model: str, reference: str):
    """``model`` minus ``reference`` on the same texts: the paired interval and McNemar's p,
    keyed ``<prefix>_<model>_vs_<reference>_...``."""
    key = f"{prefix}_{model}_vs_{reference}"
    difference = paired_difference(accuracy, samples, model, reference)
    return difference.keyed(f"{key}_accuracy_diff") | {
        f"{key}_mcnemar_p": mcnemar_exact(values[model], values[reference])
    }


def group_metrics(hits: dict[str, np.ndarray], cut: np.ndarray, resamples: int, seed: int) -> dict:
    """Flat keys per group (``whole_``, ``cut_``): its size, each model's accuracy and each
    student minus the teacher, with intervals (evaluate.json's key names)."""
    metrics = {}
    for group, members in zip(GROUPS, (~cut, cut), strict=True):
        metrics[f"{group}_texts"] = int(members.sum())
        if not members.any():
            continue
        values = {model: hits[model][members] for model in MODEL_NAMES}
        accuracy, samples = mean_intervals(values, resamples, seed)
        for model in MODEL_NAMES:
            metrics |= accuracy[model].keyed(f"{group}_{model}_accuracy")
        for model in STUDENT_NAMES:
            metrics |= versus(group, values, accuracy, samples, model, TEACHER)
    return metrics


def reread_metrics(
    hits: dict[str, np.ndarray],
    reread: np.ndarray,
    cut: np.ndarray,
    name: str,
    resamples: int,
    seed: int,
) -> dict:
    """On the cut texts: the teacher's accuracy when it read more (``reread``, its hits there),
    that minus its accuracy as it ran, and each student minus it; keys ``cut_<name>_...``."""
    values = {model: hits[model][cut] for model in MODEL_NAMES} | {name: reread}
    accuracy, samples = mean_intervals(values, resamples, seed)
    metrics = accuracy[name].keyed(f"cut_{name}_accuracy")
    metrics |= versus("cut", values, accuracy, samples, name, TEACHER)
    for model in STUDENT_NAMES:
        metrics |= versus("cut", values, accuracy, samples, model, name)
    return metrics


def reread_hits(teacher_dir: Path, texts: list[Text], labels: np.ndarray, max_len: int, batching):
    """Hits of the teacher on ``texts`` when it reads up to ``max_len`` tokens of each."""
    from bertdistill.teacher.inference import load_teacher

    teacher = load_teacher(teacher_dir)  # fp32, as the committed runs label
    teacher = dataclasses.replace(teacher, spec=dataclasses.replace(teacher.spec, max_len=max_len))
    logits = teacher.logits(texts, batching, description=f"teacher at {max_len} tokens")
    return predicted_classes(logits) == labels


def model_hits(confusion_dir: Path, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's per-text hits from its confusion rows, checked to be the test split's rows."""
    hits = {}
    for model in MODEL_NAMES:
        path = confusion_dir / Path(CONFUSION.format(model=model)).name
        if not path.is_file():
            raise UserError(f"{path} is missing: run `dvc repro evaluate` first")
        rows = pd.read_csv(path)
        if len(rows) != len(labels) or (rows["actual"].to_numpy() != labels).any():
            raise UserError(
                f"{path} does not hold the test split's texts in its order: "
                f"run `dvc repro evaluate` on this test split"
            )
        hits[model] = (rows["actual"] == rows["predicted"]).to_numpy()
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="the run's params")
    parser.add_argument("--test", default="data/prepared/test.parquet", help="the test split")
    parser.add_argument("--teacher", default="models/teacher", help="the teacher's folder")
    parser.add_argument("--confusion-dir", default="plots/evaluate/confusion")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reread", type=int, metavar="N", help="label the cut texts again reading N tokens"
    )
    parser.add_argument("--out", help="JSON file for the table")
    args = parser.parse_args()
    setup_logging()
    from transformers import AutoTokenizer

    teacher = Path(args.teacher)
    if not (teacher / SPEC_FILE).is_file():
        raise UserError(f"{teacher} is not a saved teacher (no {SPEC_FILE}): give --teacher")
    max_len = json.loads((teacher / SPEC_FILE).read_text())["max_len"]
    if args.reread is not None:
        config = json.loads((teacher / CONFIG_FILE).read_text())
        positions = config.get("max_position_embeddings", 512)
        if not max_len < args.reread <= positions:
            raise UserError(
                f"--reread {args.reread}: give a window longer than the teacher's {max_len} "
                f"tokens and at most its {positions} positions"
            )
    classes = load_section(load_params(args.params), "prepare", ClassesParams, only=True).names
    test = read_frame(args.test)
    texts = frame_texts(test)
    hits = model_hits(Path(args.confusion_dir), np.array(classes)[test["label"].to_numpy()])
    try:
        tokenizer = AutoTokenizer.from_pretrained(teacher)
    except (OSError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{teacher}: its tokenizer cannot be read ({message})") from None
    tokens = token_counts(tokenizer, texts)
    cut = cut_texts(tokens, max_len, pairs=bool(texts) and isinstance(texts[0], tuple))
    metrics = {"max_len": max_len, "texts": len(texts), "median_tokens": float(np.median(tokens))}
    metrics |= group_metrics(hits, cut, args.resamples, args.seed)
    if args.reread is not None and not cut.any():
        logger.info("no test text is cut: nothing to read again")
    if args.reread is not None and cut.any():
        params = load_params(args.params)
        batching = load_section(params, "inference", BatchingParams, only=True)
        long_texts = [text for text, is_cut in zip(texts, cut, strict=True) if is_cut]
        labels = test["label"].to_numpy()[cut]
        reread = reread_hits(teacher, long_texts, labels, args.reread, batching)
        name = f"teacher_{args.reread}"
        metrics |= reread_metrics(hits, reread, cut, name, args.resamples, args.seed)
        print(f"cut, teacher reading {args.reread} tokens: {metrics[f'cut_{name}_accuracy']:.4f}")
    print(f"teacher's limit: {max_len} tokens; median text: {np.median(tokens):.0f} tokens")
    for group in GROUPS:
        print(f"{group}: {metrics[f'{group}_texts']:,} texts")
        for model in STUDENT_NAMES if metrics[f"{group}_texts"] else ():
            key = f"{group}_{model}_vs_teacher_accuracy_diff"
            low, high = metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]
            print(
                f"  {model:<16} {metrics[f'{group}_{model}_accuracy']:.4f}  minus teacher "
                f"{metrics[key]:+.4f} [{low:+.4f}, {high:+.4f}]"
            )
    if args.out:
        write_json(args.out, metrics)


if __name__ == "__main__":
    run_cli(main)
