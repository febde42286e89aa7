"""DVC stages `distill_students` and `distill_trees`: gold-label baselines and teacher-distilled
twins of the student kinds given (`--kinds`; skops), each with its model card. Each stage fits
the same TF-IDF featuriser and keeps a copy, so a change to one kind's grid re-fits that kind's
stage only."""

from __future__ import annotations

import argparse
import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.files import write_json
from bertdistill.core.params import StudentParams
from bertdistill.core.params_file import load_section
from bertdistill.core.registry import KINDS
from bertdistill.core.stage import begin, parser, read_frame, write_timing
from bertdistill.core.tables import frame_texts
from bertdistill.students.cards import write_cards
from bertdistill.students.files import save_replicates, save_students
from bertdistill.students.fitting import fit_students
from bertdistill.students.transfer_set import read_transfer_set

logger = logging.getLogger("distill_students")


def arguments() -> argparse.Namespace:
    args_parser = parser(__doc__)
    args_parser.add_argument("--train", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument("--unlabeled", nargs=2, required=True, metavar=("TEXTS", "LOGITS"))
    args_parser.add_argument(
        "--augmented",
        help="teacher-labelled synthetic variants (label_with_teacher --augment output)",
    )
    args_parser.add_argument("--validation", required=True, help="validation split, for tuning")
    args_parser.add_argument(
        "--kinds", nargs="+", required=True, choices=KINDS, help="the student kinds to fit"
    )
    args_parser.add_argument(
        "--out", required=True, help="folder for the skops students and their model cards"
    )
    args_parser.add_argument(
        "--seeds-out", required=True, help="folder for the students re-fitted with further seeds"
    )
    args_parser.add_argument("--metrics", required=True, help="JSON with the transfer-set sizes")
    return args_parser.parse_args()


def main() -> None:
    args = arguments()
    params, seed, started = begin(args, uses_torch=False)
    config = load_section(params, "distill_students", StudentParams)
    logger.info("config: %s", config)

    transfer = read_transfer_set(
        args.train, args.unlabeled, args.augmented, config.unlabeled_limit, seed
    )
    validation = read_frame(args.validation)
    students, selections = fit_students(
        transfer, frame_texts(validation), validation["label"].to_numpy(), config, seed, args.kinds
    )
    save_students(args.out, students)
    save_replicates(args.seeds_out, students.replicates)
    logger.info(
        "saved %d students to %s, their re-fits with seeds %s to %s",
        len(students.models),
        args.out,
        sorted(students.replicates),
        args.seeds_out,
    )
    counts = transfer.counts()
    metrics = {
        "labelled_size": counts["labelled"],
        "unlabeled_size": counts["unlabelled"],
        "augmented_size": counts["augmented"],
        "transfer_size": len(transfer.texts),
        "validation_size": len(validation),
        "tfidf_features": len(students.featurizer.vocabulary_),
        "seeds": config.seeds,
    }
    for name, selection in selections.items():
        metrics[f"{name}_val_accuracy"] = round(selection.val_accuracy, 6)
        metrics[f"{name}_candidates"] = selection.tried
        metrics |= {f"{name}_{key}": value for key, value in selection.hyperparameters.items()}
    cards = write_cards(args.out, config, metrics)
    logger.info("wrote the model cards %s", ", ".join(card.name for card in cards))
    write_json(args.metrics, metrics)
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
