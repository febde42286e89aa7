"""What every stage means by a text and a word; no imports beyond the standard library, so the
stages that read texts depend on this file and not on the students' pair features."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", flags=re.UNICODE)  # a word, as every explainer and the pairs count it
Text = str | tuple[str, str]  # one text, or a sentence pair (premise, hypothesis)


def text_parts(text: Text) -> tuple[str, ...]:
    """A text's sentences: one for a single text, two for a pair."""
    return (text,) if isinstance(text, str) else text
