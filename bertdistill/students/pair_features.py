"""Sentence pairs for the bag-of-words students: a pair becomes one text whose words live in
separate spaces, premise words as ``p_<word>`` and hypothesis words as ``h_<word>``, followed by
cross features of the pair. The one TF-IDF featuriser, the students' exact attributions and the
linear students' numpy export then serve pairs unchanged.

The cross features follow Bowman et al. 2015's lexicalised classifier and what hypothesis-only
baselines found the labels lean on: each hypothesis word the premise lacks (``new_<word>``), each
such word that negates (``neg_<word>``), and the share of the hypothesis' words that the premise
holds, in fifths (``overlap_<0-4>``)."""

from __future__ import annotations

from collections.abc import Sequence

from bertdistill.core.texts import WORD, Text

PREMISE, HYPOTHESIS = "p_", "h_"  # the word spaces of a pair's two texts
# Words that negate; "n't" is split by the word pattern into "n" and "t" ("isn't": isn, t).
NEGATIONS = frozenset(
    {"not", "no", "never", "nobody", "nothing", "none", "nowhere", "neither", "nor", "t"}
)
OVERLAP_BINS = 5


SIDES = (PREMISE, HYPOTHESIS)


def side_word(token: str) -> str | None:
    """The pair word a student's token stands for: ``p_x`` and ``h_x`` themselves, a cross
    feature ``new_x`` or ``neg_x`` the hypothesis word ``h_x``; ``None`` for ``overlap_<q>``,
    which belongs to no word."""
    if token.startswith(SIDES):
        return token
    for prefix in ("new_", "neg_"):
        if token.startswith(prefix):
            return HYPOTHESIS + token.removeprefix(prefix)
    return None


def _words(text: str) -> list[str]:
    return [match.group().lower() for match in WORD.finditer(text)]


def cross_features(premise: Sequence[str], hypothesis: Sequence[str]) -> list[str]:
    """The pair's cross tokens from its lowercased words (see the module's docstring)."""
    known = set(premise)
    new = [word for word in dict.fromkeys(hypothesis) if word not in known]
    shared = sum(word in known for word in hypothesis) / max(len(hypothesis), 1)
    fifth = min(int(shared * OVERLAP_BINS), OVERLAP_BINS - 1)
    return [
        *(f"new_{word}" for word in new),
        *(f"neg_{word}" for word in new if word in NEGATIONS),
        f"overlap_{fifth}",
    ]


def student_text(text: Text) -> str:
    """What the students' featuriser reads: a single text as it is, a pair as its spaced words
    and cross features."""
    if isinstance(text, str):
        return text
    premise, hypothesis = (_words(part) for part in text)
    return " ".join(
        [
            *(PREMISE + word for word in premise),
            *(HYPOTHESIS + word for word in hypothesis),
            *cross_features(premise, hypothesis),
        ]
    )
