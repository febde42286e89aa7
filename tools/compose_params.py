"""Compose conf/ into params.yaml with Hydra, exactly as `dvc exp run -S ...` does.

    python tools/compose_params.py                      # the CPU default (`make params`)
    python tools/compose_params.py profile=paper        # then `dvc repro`
    python tools/compose_params.py --out - profile=paper finetune_teacher.epochs=3

Arguments are Hydra overrides. A test checks that the committed params.yaml is what the first
form writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bertdistill.errors import run_cli
from bertdistill.io import write_text
from bertdistill.profiles import ROOT, compose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "params.yaml"), help="file, or - for stdout")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. profile=paper")
    args = parser.parse_args()
    text = compose(args.overrides)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_text(Path(args.out), text)


if __name__ == "__main__":
    run_cli(main)
