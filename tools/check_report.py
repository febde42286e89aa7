"""Check the explain report's pickers in headless Chromium.

    python tools/check_report.py reports/explain/index.html

Loads the page, then clicks every model radio and every enabled method radio of every review as
a user would, and after each click checks, against the page's own JSON weights, that each word of
the review is coloured green for a positive weight, red for a negative one and not at all for
none, with opacity |weight| / the method's strongest |weight|; that the method radios enabled are
exactly the methods the picked model has for that review; and that one of them stays picked. The
colouring the server wrote is checked the same way before any click. Fails on any JavaScript
exception or console error while loading or clicking.

Drives Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`: no port, no
websocket library). Needs Chromium (Debian: `apt-get install chromium`). Not part of the tests
(CI has no browser); the HTML itself is tested in tests/explain/test_explain.py, the screenshot in
tools/render_check.py. Prints one JSON summary; exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from render_check import browser  # beside this file, which Python puts on the path

from bertdistill.core.errors import UserError, run_cli

TIMEOUT = 60  # seconds Chromium may take to start, load the page or run the check
ALPHA_TOLERANCE = 0.01  # the page writes opacity to 2 decimals; Chromium keeps it in 8 bits

# Runs in the page and returns what it found.
CHECK = r"""
(() => {
  const problems = [];
  let picks = 0, words = 0;
  const green = [46, 160, 67], red = [215, 58, 73];
  function look(section, step) {
    const weights = JSON.parse(section.querySelector('script.weights').textContent);
    const model = section.querySelector('input.model:checked').value;
    const has = Object.keys(weights[model]).sort().join();
    const enabled = [...section.querySelectorAll('input.method:enabled')]
      .map((radio) => radio.value).sort().join();
    if (enabled !== has) problems.push(`${step}: ${model} has ${has}, enabled: ${enabled}`);
    const method = section.querySelector('input.method:checked');
    if (!method || !(method.value in weights[model]))
      return problems.push(`${step}: ${model} has no ${method ? method.value : 'method'} picked`);
    const chosen = weights[model][method.value];
    const scale = Math.max(0, ...Object.values(chosen).map(Math.abs));
    picks += 1;
    section.querySelectorAll('.review span[data-word]').forEach((span) => {
      const weight = Object.hasOwn(chosen, span.dataset.word) ? chosen[span.dataset.word] : 0;
      const [r, g, b, a = 1] = getComputedStyle(span).backgroundColor.match(/[\d.]+/g).map(Number);
      const hue = weight > 0 ? green : weight < 0 ? red : null;
      const alpha = hue ? Math.min(1, Math.abs(weight) / scale) : 0;
      words += 1;
      if ((hue && [r, g, b].join() !== hue.join()) || Math.abs(a - alpha) > TOLERANCE)
        problems.push(`${step}, ${model}/${method.value}: "${span.textContent}" weighs ` +
                      `${weight}, coloured rgba(${r}, ${g}, ${b}, ${a})`);
    });
  }
  const sections = [...document.querySelectorAll('section.explained')];
  sections.forEach((section) => {
    look(section, `${section.id} as served`);
    section.querySelectorAll('input.model').forEach((model) => {
      model.click();
      look(section, `${section.id}, ${model.value} clicked`);
      section.querySelectorAll('input.method:enabled').forEach((method) => {
        method.click();
        look(section, `${section.id}, ${model.value} then ${method.value} clicked`);
      });
    });
  });
  return {reviews: sections.length, picks, words, problems: problems.length,
          first_problems: problems.slice(0, 10)};
})()
""".replace("TOLERANCE", str(ALPHA_TOLERANCE))


def _above_four(fd: int) -> int:
    """``fd`` moved above 4, so placing the child's pipe ends at 3 and 4 clobbers neither."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class Chromium:
    """Headless Chromium and its DevTools protocol: NUL-ended JSON messages, commands on the
    child's fd 3, answers and events on its fd 4."""

    def __init__(self, profile: str, log: Path):
        their_commands, self._commands = os.pipe()
        self._answers, their_answers = os.pipe()
        their_commands, their_answers = _above_four(their_commands), _above_four(their_answers)

        def place_pipe_ends() -> None:
            os.dup2(their_commands, 3)
            os.dup2(their_answers, 4)

        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [
                    browser(), "--headless", "--no-sandbox", "--disable-gpu",
                    f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=place_pipe_ends,
                close_fds=False,  # the other descriptors are close-on-exec anyway
            )  # fmt: skip
        os.close(their_commands)
        os.close(their_answers)
        self._unread, self._last_id = b"", 0
        self.events: list[dict] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=10)
        except (UserError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)
            os.close(self._answers)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command (to a page's ``session``) and return its result."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        message |= {"sessionId": session} if session else {}
        pending = json.dumps(message).encode() + b"\0"
        while pending:
            pending = pending[os.write(self._commands, pending) :]
        answer_id = self._last_id
        answer = self.wait(lambda received: received.get("id") == answer_id)
        if "error" in answer:
            raise UserError(f"Chromium refused {method}: {answer['error']}")
        return answer["result"]

    def wait(self, wanted: Callable[[dict], bool]) -> dict:
        """The first message ``wanted`` picks, among the events kept so far or arriving next;
        the events read on the way are kept."""
        kept = next((event for event in self.events if wanted(event)), None)
        deadline = time.monotonic() + TIMEOUT
        while kept is None:
            while kept is None and b"\0" in self._unread:
                raw, self._unread = self._unread.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                kept = message if wanted(message) else None
            if kept is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise UserError(f"Chromium did not answer within {TIMEOUT} s")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise UserError("Chromium closed the DevTools pipe: it failed to start or crashed")
            self._unread += chunk
        return kept


def javascript_errors(events: list[dict]) -> list[str]:
    """Uncaught exceptions, console.error calls and error log entries (a resource that failed
    to load, a blocked script)."""
    errors = []
    for event in events:
        params = event["params"]
        if event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
            errors.append(" ".join(str(arg.get("value", "")) for arg in params["args"]))
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
    return errors


def check(page: Path) -> dict:
    """Load ``page``, run :data:`CHECK` in it, and gather what went wrong."""
    with tempfile.TemporaryDirectory() as profile:
        log = Path(profile) / "chromium.log"
        try:
            with Chromium(profile, log) as chromium:
                version = chromium.call("Browser.getVersion")["product"]
                target = chromium.call("Target.createTarget", {"url": "about:blank"})
                attached = {"targetId": target["targetId"], "flatten": True}
                session = chromium.call("Target.attachToTarget", attached)["sessionId"]
                for domain in ("Page", "Runtime", "Log"):
                    chromium.call(f"{domain}.enable", session=session)
                chromium.events.clear()  # only what the page itself does counts
                chromium.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
                chromium.wait(lambda event: event.get("method") == "Page.loadEventFired")
                evaluated = chromium.call(
                    "Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session
                )
                events = list(chromium.events)
        except UserError as error:
            raise UserError(f"{error}; Chromium's log ends: {log.read_text()[-800:]}") from None
    if "exceptionDetails" in evaluated:
        raise UserError(f"the check itself failed in the page: {evaluated['exceptionDetails']}")
    return {"page": str(page), "browser": version, **evaluated["result"]["value"]} | {
        "javascript_errors": javascript_errors(events)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the explain report (reports/explain/index.html)")
    page = parser.parse_args().page
    if not page.is_file():
        raise UserError(f"{page} not found: run `dvc repro explain` first")
    summary = check(page)
    print(json.dumps(summary, indent=2))
    if summary["problems"] or summary["javascript_errors"] or not summary["picks"]:
        raise UserError(f"{page}: the pickers do not work as they should (see above)")


if __name__ == "__main__":
    run_cli(main)
