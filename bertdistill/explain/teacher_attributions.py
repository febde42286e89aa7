"""Word attributions for the fine-tuned teacher, in the students' form (:class:`Attribution`).

Integrated Gradients (Sundararajan et al. 2017) is the faithful one: it is exact up to the
integral's quadrature error (completeness: the word attributions, plus what punctuation carries,
add up to the logit at the review minus the logit at a baseline), so the teacher's attributions
can be compared with the students' exact ones. It integrates along the word embeddings, from the
review with every wordpiece replaced by [PAD] ([CLS] and [SEP] kept) to the review itself, on
the very ids the labelling path feeds the teacher (same head+tail truncation).

Occlusion is the model-agnostic check: how much the logit drops when a word is removed (every
occurrence, as LIME and the students' features see words), all variants in one batched labelling
call. It costs a forward pass per distinct word. Guided occlusion spends those passes where they
matter: it occludes only the words Integrated Gradients finds strongest, ranks them by their
drop, and ranks the rest after them in Integrated Gradients' order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients
from transformers import PreTrainedTokenizerBase

from bertdistill.core.errors import UserError
from bertdistill.core.params import BatchingParams
from bertdistill.core.texts import Text
from bertdistill.explain.attributions import WORD, Attribution, review_words, without_words
from bertdistill.explain.erasure import top_count
from bertdistill.students.pair_features import SIDES
from bertdistill.teacher.inference import QUANTISED, Teacher
from bertdistill.teacher.model import EncodingSpec, encode_texts, truncate_ids, truncate_pair

Span = tuple[int, int]


def integrated_gradients(
    teacher: Teacher, text: Text, steps: int, batch_tokens: int, target: int | None = None
) -> Attribution:
    """The teacher's Integrated Gradients on ``text`` (a review or a sentence pair) over
    ``steps`` Gauss-Legendre points, as many points per forward/backward pass as
    ``batch_tokens`` holds (the labelling code's token budget: memory does not grow with the
    sequence length); ``bias`` is the logit at the [PAD] baseline (every piece [PAD], the
    [CLS] and [SEP] tokens kept), ``output`` the logit at the review, so
    :func:`~bertdistill.explain.attributions.completeness_gap` is captum's convergence delta. A
    K-class teacher's logit of class ``target`` is explained. Explains the fp32 model whatever
    precision the teacher labels at."""
    if teacher.precision in QUANTISED:
        raise UserError(
            f"Integrated Gradients needs gradients, which the {teacher.precision} (quantised) "
            f"teacher has not: "
            "load a second copy of the teacher at precision fp32 for it"
        )
    ids, words_at = position_words(teacher.tokenizer, text, teacher.spec)
    pad = teacher.tokenizer.pad_token_id
    baseline = [piece if at is None else pad for piece, at in zip(ids, words_at, strict=True)]
    inputs = torch.tensor([ids], device=teacher.device)
    baselines = torch.tensor([baseline], device=teacher.device)
    attention_mask = torch.ones_like(inputs)
    model = teacher.model.eval()  # dropout off: the integrand must be deterministic
    explainer = LayerIntegratedGradients(model, model.encoder.get_input_embeddings())
    with torch.enable_grad():
        per_dimension = explainer.attribute(
            inputs,
            baselines=baselines,
            additional_forward_args=(attention_mask,),
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=max(1, batch_tokens // len(ids)),
            target=target,
        )
    with torch.inference_mode():
        both = model(torch.cat([inputs, baselines]), attention_mask.repeat(2, 1))
        output, bias = (both if target is None else both[:, target]).tolist()
    # [CLS] and [SEP] have the same embedding at the baseline, so they carry exactly nothing.
    values = per_dimension.sum(dim=-1)[0].tolist()
    pieces = [(at, value) for at, value in zip(words_at, values, strict=True) if at is not None]
    words, absent = _sum_pieces(review_words(text), pieces)
    return Attribution(words, bias=bias, absent=absent, output=output)


def occlusion(
    teacher: Teacher,
    texts: Sequence[Text],
    logits: np.ndarray,
    batching: BatchingParams,
    only: Sequence[Collection[str]] | None = None,
    targets: Sequence[int] | None = None,
) -> list[Attribution]:
    """Per review and word, the teacher's logit on the review (``logits``, in order; a K-class
    teacher's logit of class ``targets[review]``) minus its logit without that word: every
    variant of every review labelled in one batched call, so the labelling code's
    length-sorted batches span reviews. ``only``: per review, the words to occlude (the
    attribution holds those alone); every word by default. A variant that encodes to the
    review's own ids (a word the truncation cuts away, where the review stays longer than the
    window without it) changes nothing: it gets exactly 0 and no forward pass."""
    words = [review_words(text) for text in texts]
    if only is not None:
        words = [[word for word in own if word in chosen]
                 for own, chosen in zip(words, only, strict=True)]  # fmt: skip
    owners = [review for review, own in enumerate(words) for _ in own]
    variants = [without_words(texts[review], [word]) for review, own in enumerate(words)
                for word in own]  # fmt: skip
    review_ids = encode_texts(teacher.tokenizer, texts, teacher.spec)
    variant_ids = encode_texts(teacher.tokenizer, variants, teacher.spec)
    changed = [ids != review_ids[owner] for ids, owner in zip(variant_ids, owners, strict=True)]
    to_score = [variant for variant, differs in zip(variants, changed, strict=True) if differs]
    scored = iter(teacher.logits(to_score, batching, progress=True, description="occlusion"))

    def explained(values: np.ndarray, review: int) -> np.float32:
        """The review's logit (a K-class teacher's of its target class), still float32: the
        drop is taken in the precision the teacher labels at."""
        return values if targets is None else values[targets[review]]

    drops = iter([float(explained(logits[owner], owner) - explained(next(scored), owner))
                  if differs else 0.0
                  for owner, differs in zip(owners, changed, strict=True)])  # fmt: skip
    return [Attribution({word: next(drops) for word in own}) for own in words]


def guided_occlusion(
    teacher: Teacher,
    texts: Sequence[Text],
    logits: np.ndarray,
    guides: Sequence[Attribution],
    share: float,
    batching: BatchingParams,
    targets: Sequence[int] | None = None,
) -> list[Attribution]:
    """Occlusion of each review's :func:`guided_words` (by its Integrated Gradients, one guide
    per review), its other words following in the guide's order (see :func:`measured_first`).
    About ``share`` of full occlusion's passes; ``share`` 1 is full occlusion."""
    chosen = [guided_words(guide, share) for guide in guides]
    measured = occlusion(teacher, texts, logits, batching, chosen, targets)
    return [measured_first(guide, found) for guide, found in zip(guides, measured, strict=True)]


def guided_words(guide: Attribution, share: float) -> list[str]:
    """The ``share`` of a review's words strongest by |``guide``|, the ones guided occlusion
    measures (at least one; none with a guide value of 0)."""
    # rounded first: 0.07 * 100 is 7.000000000000001, which would occlude one word too many
    return guide.strongest(top_count(len(guide.words), round(share * 100, 9)))


def measured_first(guide: Attribution, measured: Attribution) -> Attribution:
    """``measured``'s values (occlusion drops), and for every other word of ``guide`` its value
    scaled to under half the smallest nonzero drop: in magnitude every measured word with an
    effect outranks every word only guessed at, so in a signed ranking the measured words for a
    class come before all guessed ones and those against it after them; the guessed words keep
    the guide's order and signs. A measured drop of 0 (no effect) ranks below the guessed words;
    where no drop is nonzero the guide's values stay as they are. Ranked unscaled beside the
    drops, Integrated Gradients' values (whose magnitudes differ from occlusion's word by word)
    push measured words down, and guided occlusion falls behind full occlusion in ERASER's
    comprehensiveness (docs/benchmarks.md)."""
    drops = [abs(value) for value in measured.words.values() if value != 0]
    largest = max((abs(value) for value in guide.words.values()), default=0.0)
    scale = 0.5 * min(drops) / largest if drops and largest > 0 else 1.0
    return Attribution({word: value * scale for word, value in guide.words.items()}
                       | measured.words)  # fmt: skip


def encoded_pieces(
    tokenizer: PreTrainedTokenizerBase, text: str, spec: EncodingSpec
) -> tuple[list[int], list[Span]]:
    """The ids the labelling path feeds the teacher for ``text`` ([CLS] ... [SEP], truncated
    per ``spec``) and the character span of each wordpiece between [CLS] and [SEP]."""
    (ids,) = encode_texts(tokenizer, [text], spec)
    pieces = tokenizer(
        text,
        add_special_tokens=False,
        truncation=False,
        verbose=False,
        return_offsets_mapping=True,
    )
    # Truncating positions rather than ids keeps each kept id's span beside it.
    kept = truncate_ids(
        range(len(pieces["input_ids"])), len(ids) - 2, spec.truncation, spec.head_tokens
    )
    assert [pieces["input_ids"][index] for index in kept] == ids[1:-1], "offsets misaligned"
    return ids, [tuple(pieces["offset_mapping"][index]) for index in kept]


def piece_words(text: str, offsets: Sequence[Span]) -> list[list[str]]:
    """For each wordpiece span, the words of ``text`` (lowercased ``\\w+`` matches) it overlaps:
    one for a piece of a word, none for punctuation, several only for a piece that spans words
    (an [UNK] over ``5€off``)."""
    matches = list(WORD.finditer(text))
    ends = [match.end() for match in matches]
    words = []
    for start, end in offsets:
        first = bisect_right(ends, start)  # the first word ending after the piece starts
        overlapping = []
        for match in matches[first:]:
            if match.start() >= end:
                break
            overlapping.append(match.group().lower())
        words.append(overlapping)
    return words


def position_words(
    tokenizer: PreTrainedTokenizerBase, text: Text, spec: EncodingSpec
) -> tuple[list[int], list[list[str] | None]]:
    """The ids the labelling path feeds the teacher for ``text`` and, per position, the words
    its wordpiece overlaps (a pair's with their side's prefix); None at [CLS] and [SEP]."""
    if isinstance(text, str):
        ids, offsets = encoded_pieces(tokenizer, text, spec)
        return ids, [None, *piece_words(text, offsets), None]
    (ids,) = encode_texts(tokenizer, [text], spec)
    parts = [
        tokenizer(part, add_special_tokens=False, truncation=False, verbose=False,
                  return_offsets_mapping=True)
        for part in text
    ]  # fmt: skip
    kept = truncate_pair(*(range(len(part["input_ids"])) for part in parts), len(ids) - 3)
    words_at: list[list[str] | None] = [None]
    for side, part, positions, piece_text in zip(SIDES, parts, kept, text, strict=True):
        offsets = [tuple(part["offset_mapping"][index]) for index in positions]
        words_at += [[side + word for word in overlapping]
                     for overlapping in piece_words(piece_text, offsets)]  # fmt: skip
        words_at.append(None)
    pieces = [part["input_ids"][index] for part, positions in zip(parts, kept, strict=True)
              for index in positions]  # fmt: skip
    assert [i for i, at in zip(ids, words_at, strict=True) if at is not None] == pieces, (
        "pair offsets misaligned"
    )
    return ids, words_at


def word_sums(
    text: str, offsets: Sequence[Span], values: Sequence[float]
) -> tuple[dict[str, float], float]:
    """Sum wordpiece ``values`` per word of ``text`` (every word a key, 0.0 when truncated away);
    a piece spanning several words is split evenly, as the students' n-grams are. Returns the
    words' sums and what punctuation pieces carry."""
    pieces = zip(piece_words(text, offsets), values, strict=True)
    return _sum_pieces(review_words(text), pieces)


def _sum_pieces(
    words: Sequence[str], pieces: Iterable[tuple[list[str], float]]
) -> tuple[dict[str, float], float]:
    sums = dict.fromkeys(words, 0.0)
    absent = 0.0
    for overlapping, value in pieces:
        if not overlapping:
            absent += value
        for word in overlapping:
            sums[word] += value / len(overlapping)
    return sums, absent
