"""Fetch the official IMDB archive into data/imdb through DVC, checked against its published md5.

`make data` runs this where ../shared/data/imdb is not beside the project; from the project root:

    python tools/fetch_imdb.py                          # Stanford's aclImdb_v1.tar.gz (84 MB)
    python tools/fetch_imdb.py --url URL --md5 MD5      # a mirror of it

`dvc import-url --force URL data/imdb` downloads the archive into DVC's cache and records the URL
and the file's md5 in data/imdb.dvc; `prepare` reads the archive as it is (prepare.source stays
data/imdb). A server that does not answer within seconds fails before DVC starts; a file whose md5
is not the published one is removed and data/imdb.dvc is left as it was.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from bertdistill.core.errors import UserError, run_cli
from bertdistill.core.runtime import setup_logging
from bertdistill.data.imdb import IMDB_MD5, IMDB_URL

logger = logging.getLogger("fetch_imdb")

ANSWER_TIMEOUT = 10.0  # seconds for the server to answer: offline, fail in seconds, not minutes
# What to do instead, for a user without network access or with a bad download
OWN_COPY = (
    "import your own IMDB copy: 'dvc import-url --force /path/to/imdb data/imdb' (docs/data.md)"
)


def check_reachable(url: str, timeout: float = ANSWER_TIMEOUT) -> None:
    """Ask ``url`` for its first byte and close: a user error unless the server answers with
    success within ``timeout`` seconds."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass  # the status line and headers came: the body is DVC's to download
    except urllib.error.HTTPError as error:
        raise UserError(f"{url} answered {error}: {OWN_COPY}") from None
    except (OSError, http.client.HTTPException) as error:  # URLError and timeouts among them
        reason = getattr(error, "reason", None) or error
        raise UserError(f"{url} cannot be reached ({reason}): {OWN_COPY}") from None


def recorded_md5(dvc_file: Path) -> str:
    """The md5 DVC recorded for the imported file (DVC 3: the file's plain md5)."""
    return yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"]


def discard(target: Path, md5: str) -> None:
    """Remove the fetched file from the workspace and from DVC's cache."""
    cache = subprocess.run(["dvc", "cache", "dir"], capture_output=True, text=True, check=True)
    cached = Path(cache.stdout.strip()) / "files" / "md5" / md5[:2] / md5[2:]
    for path in (target, cached):
        path.unlink(missing_ok=True)


def restore(dvc_file: Path, before: bytes | None) -> None:
    """Put ``dvc_file`` back as it was (and its data, where DVC's cache holds it)."""
    if before is None:
        dvc_file.unlink(missing_ok=True)
        return
    dvc_file.write_bytes(before)
    subprocess.run(["dvc", "checkout", "-q", str(dvc_file)], capture_output=True, check=False)


def fetch(url: str, md5: str, target: Path) -> None:
    """Import ``url`` as ``target`` with DVC (its progress shown) and keep it only if its md5 is
    ``md5``; on any failure ``target``.dvc is left as it was."""
    dvc_file = target.with_name(f"{target.name}.dvc")
    before = dvc_file.read_bytes() if dvc_file.is_file() else None
    check_reachable(url)
    logger.info("importing %s as %s through DVC", url, target)
    if subprocess.run(["dvc", "import-url", "--force", url, str(target)], check=False).returncode:
        restore(dvc_file, before)
        raise UserError(f"dvc import-url of {url} failed (above): run it again, or {OWN_COPY}")
    fetched = recorded_md5(dvc_file)
    if fetched != md5:
        discard(target, fetched)
        restore(dvc_file, before)
        raise UserError(
            f"{url} gave a file of md5 {fetched}, not the published {md5}: it was removed and "
            f"{dvc_file} left as it was; fetch it again, or {OWN_COPY}"
        )
    logger.info("%s: md5 %s, the published one (recorded in %s)", target, md5, dvc_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="data/imdb", help="where DVC puts the file")
    parser.add_argument("--url", default=IMDB_URL, help="the archive's address")
    parser.add_argument("--md5", default=IMDB_MD5, help="the archive's published md5")
    args = parser.parse_args()
    setup_logging()
    fetch(args.url, args.md5.lower(), Path(args.target))


if __name__ == "__main__":
    run_cli(main)
