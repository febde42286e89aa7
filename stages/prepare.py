"""DVC stage `prepare`: raw IMDB copy (or other labelled texts or sentence pairs) -> cleaned,
seeded train/validation/test/unlabeled splits."""

from __future__ import annotations

import logging

from bertdistill.core.errors import run_cli
from bertdistill.core.files import write_json, write_parquet
from bertdistill.core.params import PrepareParams
from bertdistill.core.params_file import load_section
from bertdistill.core.stage import begin, parser, write_timing
from bertdistill.data.sources import load_raw
from bertdistill.data.splits import label_shares, make_splits

logger = logging.getLogger("prepare")


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--out-dir", required=True, help="folder for the split parquet files")
    args_parser.add_argument("--metrics", required=True, help="JSON file for split sizes")
    args = args_parser.parse_args()
    params, seed, started = begin(args, uses_torch=False)
    config = load_section(params, "prepare", PrepareParams)
    logger.info("config: %s", config)

    files = config.files
    raw = load_raw(
        config.source,
        config.text_column,
        config.label_column,
        config.pair_column,
        config.classes or (),
        files,
        config.dataset,
    )
    logger.info("raw sizes: %s", {split: len(frame) for split, frame in raw.items()})
    splits = make_splits(
        raw,
        train_size=config.train_size,
        val_size=config.val_size,
        test_size=config.test_size,
        unlabeled_size=config.unlabeled_size,
        seed=seed,
        min_chars=config.min_chars,
        drop_test_duplicates=config.drop_test_duplicates,
        unlabeled_from_train=files["unsup"] == files["train"],
        classes=config.classes or (),
    )
    logger.info("cleaning and duplicates: %s", splits.report)
    metrics = dict(splits.report)
    for name, frame in splits.items():
        metrics[f"{name}_size"] = len(frame)
        if name != "unlabeled":
            shares = label_shares(frame, config.classes or ())
            metrics |= {f"{name}_{key}": value for key, value in shares.items()}
    for name, frame in splits.items():  # only once every check has passed
        write_parquet(f"{args.out_dir}/{name}.parquet", frame)
        logger.info("wrote %s/%s.parquet: %d rows", args.out_dir, name, len(frame))
    write_json(args.metrics, metrics)
    write_timing(args.timing, started)


if __name__ == "__main__":
    run_cli(main)
