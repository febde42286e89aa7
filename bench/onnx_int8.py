"""Benchmark: ONNX Runtime (fp32 and dynamic int8) against the project's torch labelling path.

An experiment, not a pipeline path: it needs packages the project does not pin,

    pip install onnxruntime==1.32.0 onnx==1.23.2

Exports the fine-tuned teacher to ONNX (opset 17, dynamic batch and length), quantises it with
ONNX Runtime's dynamic int8 (per-channel weights; once every MatMul, once keeping each
feed-forward output projection fp32 as `inference.precision: int8` does), and times, on the same
length-sorted token-budget batches: torch fp32 (the labelling code), torch int8 (the project's
int8 path) and the three ONNX Runtime models on 2 threads. One untimed pass each, then
`--repeats` alternating timed passes; medians. Agreement is with torch fp32.

    python bench/onnx_int8.py --texts 500

Writes bench/results/onnx_int8.json and prints a table. Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from machine import matmul_peak_gflops

from bertdistill.batching import collate, predict_logits, token_budget_batches
from bertdistill.config import InferenceParams
from bertdistill.data import clean_text
from bertdistill.inference import is_feed_forward_output, load_teacher, quantize_int8
from bertdistill.io import setup_logging, write_json
from bertdistill.params_file import load_params, load_section
from bertdistill.teacher_model import encode_texts


def export(model, example: tuple, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "length"},
                "attention_mask": {0: "batch", 1: "length"},
                "logits": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def main() -> None:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--teacher", default="models/teacher")
    parser.add_argument("--data", default="../shared/data/imdb/test.parquet")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/onnx_int8.json")
    args = parser.parse_args()
    setup_logging()
    inference = load_section(load_params(args.params), "inference", InferenceParams)
    teacher = load_teacher(args.teacher, torch.device("cpu"))
    frame = pd.read_parquet(args.data).sample(args.texts, random_state=args.seed)
    labels = frame["label"].to_numpy()
    encoded = encode_texts(teacher.tokenizer, [clean_text(t) for t in frame["text"]], teacher.spec)
    pad_id = teacher.tokenizer.pad_token_id
    cpu = torch.device("cpu")
    # the labelling code's batches: longest first, cut by padded-token budget
    batches = token_budget_batches(
        [len(ids) for ids in encoded], inference.batch_tokens, inference.max_batch_size
    )

    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "teacher.onnx"
        export(teacher.model, collate(encoded[:2], pad_id, cpu), fp32_path)
        matmuls = [
            node.name for node in onnx.load(fp32_path).graph.node if node.op_type == "MatMul"
        ]
        # ONNX node names follow module paths: /encoder/encoder/layer.0/output/dense/MatMul
        keep = [
            name
            for name in matmuls
            if is_feed_forward_output(name.removesuffix("/MatMul").replace("/", "."))
        ]
        paths = {"ort_fp32": fp32_path}
        for name, exclude in (("ort_int8_all", []), ("ort_int8_ffn_out_fp32", keep)):
            paths[name] = Path(tmp) / f"{name}.onnx"
            quantize_dynamic(
                fp32_path,
                paths[name],
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=exclude,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        sessions = {
            name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for name, path in paths.items()
        }

    def run_onnx(session) -> np.ndarray:
        logits = np.empty(len(encoded), dtype=np.float32)
        for batch in batches:
            input_ids, mask = collate([encoded[i] for i in batch], pad_id, cpu)
            feed = {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()}
            logits[batch] = session.run(None, feed)[0].reshape(-1)
        return logits

    quantized = quantize_int8(teacher.model)
    modes = {
        "torch_fp32": lambda: predict_logits(
            teacher.model, encoded, pad_id, inference, cpu, progress=False
        ),
        "torch_int8": lambda: predict_logits(
            quantized, encoded, pad_id, inference, cpu, progress=False
        ),
    }
    modes |= {name: (lambda s=session: run_onnx(s)) for name, session in sessions.items()}
    peak_before = matmul_peak_gflops()
    logits = {name: run() for name, run in modes.items()}
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, run in modes.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    peak_after = matmul_peak_gflops()
    reference = logits["torch_fp32"]
    base = statistics.median(seconds["torch_fp32"])
    rows = {
        name: {
            "sequences_per_second": round(len(encoded) / statistics.median(seconds[name]), 2),
            "speedup_over_torch_fp32": round(base / statistics.median(seconds[name]), 3),
            "agreement_with_torch_fp32": round(
                float(np.mean((logits[name] > 0) == (reference > 0))), 4
            ),
            "max_abs_logit_diff": round(float(np.max(np.abs(logits[name] - reference))), 4),
            "accuracy": round(float(np.mean((logits[name] > 0) == labels)), 4),
        }
        for name in modes
    }
    result = {
        "texts": len(encoded),
        "onnxruntime": ort.__version__,
        "matmul_peak_gflops": [round(peak_before, 1), round(peak_after, 1)],
        "threads": torch.get_num_threads(),
        "matmuls_kept_fp32_in_ort_int8_ffn_out_fp32": len(keep),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"{len(encoded)} reviews; matmul peak {peak_before:.0f} / {peak_after:.0f} GFLOP/s")
    print(f"{'mode':<24} {'seq/s':>7} {'speed-up':>9} {'agree':>7} {'accuracy':>9}")
    for name, row in rows.items():
        print(
            f"{name:<24} {row['sequences_per_second']:>7} {row['speedup_over_torch_fp32']:>8}x "
            f"{row['agreement_with_torch_fp32']:>7} {row['accuracy']:>9}"
        )


if __name__ == "__main__":
    main()
