"""What every stage means by a text and a word; no imports beyond the standard library, so the
stages that read texts depend on this file and not on the students' pair features."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", flags=re.UNICODE)  # a word, as every explainer and the pairs count it
Text = str | tuple[str, str]  # one text, or a sentence pair (premise, hypothesis)
