"""DVC stage `quantize_teacher`: the fine-tuned teacher exported to ONNX and quantised to dynamic
int8, once per teacher, for CPU forward passes under `inference.precision: onnx_int8`
(labelling, the teacher's explanations, `predict`). Integrated Gradients keeps the fp32 teacher."""

from __future__ import annotations

import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.stage import begin, parser, write_timing
from bertdistill.teacher.inference import load_teacher
from bertdistill.teacher.onnx_int8 import export_int8

logger = logging.getLogger("quantize_teacher")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--teacher", required=True, help="fine-tuned teacher folder")
    args_parser.add_argument("--out", required=True, help="folder for the int8 ONNX model")
    args = args_parser.parse_args()
    _, _, started = begin(args, uses_torch=True)
    teacher = load_teacher(args.teacher)
    path = export_int8(teacher, args.out)
    logger.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
