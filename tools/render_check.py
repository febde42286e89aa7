"""Render HTML pages in headless Chromium and check the screenshots are not blank.

    python tools/render_check.py reports/explain/index.html
    dvc plots show -o dvc_plots && python tools/render_check.py dvc_plots/index.html \
        --vega-modules /tmp/vega/node_modules     # offline: Vega from a local npm install

DVC's plots page loads Vega, Vega-Lite and vega-embed from a CDN. Without internet, install them
with npm (`npm install --legacy-peer-deps vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2`, the
versions DVC pins) and pass `--vega-modules`: the page is rendered from a copy that loads them
from there.

Needs Chromium (Debian: `apt-get install chromium`). Writes a PNG per page and a JSON summary
to bench/results/render/; exits non-zero if a page fails to render or renders blank. Not part
of the tests (CI has no browser); the HTML structure itself is tested in
tests/explain/test_explain.py.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.files import write_json
from bertdistill.core.runtime import setup_logging

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    """The first Chromium on PATH."""
    found = next((name for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        raise UserError("no Chromium found: install it (Debian: `apt-get install chromium`)")
    return found


def screenshot(page: Path, out: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={width},{height}",
                f"--screenshot={out}", page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    if not out.is_file():
        raise UserError(f"Chromium wrote no screenshot of {page}: {result.stderr[-500:]}")


def with_local_vega(page: Path, modules: Path) -> Path:
    """A copy of ``page`` beside it whose Vega scripts load from ``modules`` (npm's folder)."""

    def local(match: re.Match) -> str:
        name = match.group(1)
        script = modules / name / "build" / f"{name}.min.js"
        if not script.is_file():
            raise UserError(f"{script} not found: `npm install {name}` into {modules.parent}")
        return f'src="{script.resolve().as_uri()}"'

    html = page.read_text(encoding="utf-8")
    html, count = re.subn(
        r'src="https://cdn\.jsdelivr\.net/npm/(vega(?:-lite|-embed)?)@[^"]*"', local, html
    )
    if count == 0:
        raise UserError(f"{page} loads no Vega script from the CDN: nothing to replace")
    copy = page.with_name(f".{page.stem}.local-vega.html")
    copy.write_text(html, encoding="utf-8")
    return copy


def describe(png: Path) -> dict:
    """How much of the screenshot is ink, and how many colours it uses."""
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    ink = (pixels < 245).any(axis=1)
    colours = len(np.unique(pixels[:: max(1, len(pixels) // 200_000)], axis=0))
    return {
        "pixels": int(len(pixels)),
        "ink_share": round(float(ink.mean()), 4),
        "colours": colours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", help="HTML files to render")
    parser.add_argument("--out-dir", default="bench/results/render")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--vega-modules", type=Path, help="node_modules holding Vega (offline)")
    args = parser.parse_args()
    setup_logging()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, blank = {}, []
    for page in map(Path, args.pages):
        if not page.is_file():
            raise UserError(f"{page} not found: run `dvc repro` first")
        png = out_dir / f"{page.parent.name}_{page.stem}.png"
        rendered = with_local_vega(page, args.vega_modules) if args.vega_modules else page
        try:
            screenshot(rendered, png, args.width, args.height)
        finally:
            if rendered != page:
                rendered.unlink()
        summary[str(page)] = {"screenshot": str(png), **describe(png)}
        if summary[str(page)]["ink_share"] < 0.01 or summary[str(page)]["colours"] < 8:
            blank.append(str(page))
        print(f"{page}: {summary[str(page)]}")
    write_json(out_dir / "render.json", summary)
    if blank:
        raise UserError(f"blank render: {', '.join(blank)} (see {out_dir})")


if __name__ == "__main__":
    run_cli(main)
