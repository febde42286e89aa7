"""Print a profile as `dvc exp run` flags, or apply it to params.yaml.

    dvc exp run $(python tools/profile_args.py paper)          # an experiment, the paper's setting
    dvc exp run --queue $(python tools/profile_args.py paper)  # the same, queued
    python tools/profile_args.py paper --apply && dvc repro    # edit params.yaml in place instead

A profile (conf/profiles/<name>.yaml) holds the keys it changes; params.yaml holds the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bertdistill.core.errors import run_cli
from bertdistill.core.params_file import load_params
from bertdistill.core.profiles import ROOT, apply, check_keys, load_profile, overrides, shell_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="profile name: a file conf/profiles/<name>.yaml")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"), help="params file")
    parser.add_argument("--apply", action="store_true", help="edit --params in place")
    args = parser.parse_args()
    profile = load_profile(args.name)
    check_keys(profile, load_params(args.params))
    settings = overrides(profile)
    if args.apply:
        apply(Path(args.params), settings)
    else:
        print(shell_flags(settings))


if __name__ == "__main__":
    run_cli(main)
