"""DVC stage `explain_teacher`: the teacher's side of the explanations, computed once per teacher
and test split: on the chosen test reviews, its logits, its word attributions (Integrated
Gradients and guided occlusion on all of them, full occlusion and LIME on subsets), their ERASER
measures and a random floor's, and its logits on the deletion texts the students are compared
on. `explain` reads them, so student experiments never re-run the teacher."""

from __future__ import annotations

import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.params import ExplainParams, InferenceParams, TeacherExplainParams
from bertdistill.core.params_file import load_section
from bertdistill.core.stage import begin, parser, read_frame, write_timing
from bertdistill.explain.teacher_outputs import write_teacher_explanations
from bertdistill.explain.teacher_run import choose_reviews, explain_teacher
from bertdistill.teacher.inference import QUANTISED, load_teacher

logger = logging.getLogger("explain_teacher")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--test", required=True, help="test split parquet")
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument(
        "--teacher-int8", help="the teacher's int8 ONNX model (inference.precision onnx_int8)"
    )
    args_parser.add_argument("--out", required=True, help="folder for the teacher's explanations")
    args = args_parser.parse_args()
    params, seed, started = begin(args, uses_torch=True)
    config = load_section(params, "explain", TeacherExplainParams, only=True, section=ExplainParams)
    inference = load_section(params, "inference", InferenceParams)
    logger.info("config: %s", config)

    reviews = choose_reviews(read_frame(args.test), config.num_reviews, seed)
    teacher = load_teacher(
        args.teacher, precision=inference.precision, int8_model=args.teacher_int8
    )
    # Integrated Gradients needs gradients: an int8 teacher labels, an fp32 copy is explained.
    gradient_teacher = load_teacher(args.teacher) if inference.precision in QUANTISED else teacher
    explained = explain_teacher(reviews, teacher, gradient_teacher, inference, config, seed)
    write_teacher_explanations(args.out, explained)
    logger.info("wrote %s: the teacher's explanations of %d reviews", args.out, len(reviews))
    write_timing(args.timing, started, reviews=len(reviews))


if __name__ == "__main__":
    run_cli(main)
