"""Benchmark: how much a student's test accuracy moves with float noise alone.

Another CPU (AVX-512 against AVX2) sums in another order and so differs in the last bits; a fit
that stops at a loose tolerance on nearly separable data can land elsewhere. This re-fits each
gold-label student on the same data with its training rows in other orders and its feature
values perturbed in the last bits (relative noise of --noise, about what another summation
order gives), and reports the spread of test accuracy and how many test predictions change, at
the committed solver tolerance and tighter ones.

    python bench/fit_stability.py --orders 5        # after `dvc repro prepare` (needs the splits)

Writes bench/results/fit_stability.json. Not part of the tests.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

from bertdistill.core.files import read_json, write_json
from bertdistill.core.params import StudentParams
from bertdistill.core.params_file import load_params, load_section, load_seed
from bertdistill.students.fitting import build_student, fit_featurizer


def vocabulary_cut(params, texts: list[str]) -> dict:
    """How many n-grams tie at scikit-learn's ``max_features`` cut, and how many of the kept ones
    change between NumPy's default sort (what scikit-learn uses; its tie order depends on the
    CPU's code path) and a stable sort: the vocabulary's dependence on the CPU before
    `fit_featurizer` broke ties by the n-gram."""
    counter = CountVectorizer(
        ngram_range=(1, params.ngram_max), min_df=params.min_df, max_df=params.max_df
    )
    totals = np.asarray(counter.fit_transform(texts).sum(axis=0)).ravel()
    limit = params.max_features
    default = set((-totals).argsort()[:limit].tolist())
    stable = set(np.argsort(-totals, kind="stable")[:limit].tolist())
    cut = np.sort(totals)[::-1][limit - 1]
    return {
        "ngrams": int(len(totals)),
        "max_features": limit,
        "count_at_cut": int(cut),
        "ngrams_tied_at_cut": int(np.sum(totals == cut)),
        "kept_of_the_tied": int(sum(totals[i] == cut for i in default)),
        "kept_ngrams_differing_by_sort": len(default - stable),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default="data/prepared")
    parser.add_argument("--orders", type=int, default=5, help="row orders per setting")
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-4, 1e-6, 1e-8])
    parser.add_argument("--noise", type=float, default=1e-12, help="relative noise on values")
    parser.add_argument("--students", nargs="+", default=["lr_baseline", "svm_baseline"])
    parser.add_argument("--out", default="bench/results/fit_stability.json")
    args = parser.parse_args()
    params = load_params(args.params)
    config = load_section(params, "distill_students", StudentParams)
    seed = load_seed(params)
    frames = {
        name: pd.read_parquet(f"{args.prepared}/{name}.parquet")
        for name in ("train", "unlabeled", "test")
    }
    # The featuriser is fitted as distill_students fits it, minus the synthetic variants (they
    # need the teacher); the question here is the solver, not the vocabulary.
    texts = frames["train"]["text"].tolist() + frames["unlabeled"]["text"].tolist()
    featurizer, _ = fit_featurizer(config.tfidf, texts)
    train = featurizer.transform(frames["train"]["text"])
    test = featurizer.transform(frames["test"]["text"])
    labels, test_labels = frames["train"]["label"].to_numpy(), frames["test"]["label"].to_numpy()
    # The hyper-parameters the committed run chose (metrics/students.json).
    chosen = read_json("metrics/students.json")
    settings = {
        "lr_baseline": {"C": chosen["lr_baseline_C"]},
        "svm_baseline": {"C": chosen["svm_baseline_C"]},
    }
    rng = np.random.default_rng(seed)
    variants = [(np.arange(len(labels)), train)]
    for _ in range(args.orders - 1):
        noisy = train.copy()
        noisy.data *= 1 + args.noise * rng.standard_normal(noisy.nnz)
        variants.append((rng.permutation(len(labels)), noisy))
    result = {
        "machine": platform.machine(),
        "variants": args.orders,
        "relative_noise": args.noise,
        "test_size": len(test_labels),
        "vocabulary_cut": vocabulary_cut(config.tfidf, texts),
    }
    print("vocabulary cut", result["vocabulary_cut"], flush=True)
    chosen_settings = {name: settings[name] for name in args.students}
    for (name, hyper), tol in itertools.product(chosen_settings.items(), args.tols):
        kind, variant = name.split("_")
        predictions, seconds, iterations = [], [], []
        for order, features in variants:
            model = build_student(kind, variant, hyper, config, seed)
            model.set_params(tol=tol)
            started = time.perf_counter()
            model.fit(features[order], labels[order])
            seconds.append(time.perf_counter() - started)
            iterations.append(int(np.max(model.n_iter_)))
            predictions.append(model.decision_function(test) > 0)
        accuracies = [float(np.mean(p == test_labels)) for p in predictions]
        changed = max(int(np.sum(a != b)) for a, b in itertools.combinations(predictions, 2))
        row = {
            "accuracy_min": min(accuracies),
            "accuracy_max": max(accuracies),
            "accuracy_spread_points": round(100 * (max(accuracies) - min(accuracies)), 3),
            "max_test_predictions_changed": changed,
            "median_fit_seconds": round(float(np.median(seconds)), 2),
            "max_iterations": max(iterations),
        }
        result[f"{name}_tol_{tol:g}"] = row
        print(name, f"tol={tol:g}", row, flush=True)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
