"""Profiles: conf/ composed by Hydra into params.yaml, the way `dvc exp run -S ...` composes it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dvc.utils.hydra import compose_and_dump

from bertdistill.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "conf"


def compose(overrides: list[str], config_dir: Path = CONFIG_DIR) -> str:
    """The params.yaml text that ``config_dir`` and Hydra ``overrides`` compose to."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        try:
            compose_and_dump(
                out, str(config_dir.resolve()), None, "config", str(config_dir.parent), overrides
            )
        except (HydraException, OmegaConfBaseException, yaml.YAMLError) as error:
            first = str(error).splitlines()[0]
            raise UserError(f"cannot compose {config_dir} with {overrides}: {first}") from None
        return out.read_text(encoding="utf-8")
