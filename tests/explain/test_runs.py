import numpy as np
import pandas as pd
import pytest
from support import (
    TINY_EXPLAIN,
    explain_params,
    fit,
    student_params,
    synthetic_reviews,
    tiny_teacher,
)

from bertdistill.core.errors import UserError
from bertdistill.core.params import InferenceParams
from bertdistill.core.registry import MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.explain.attributions import completeness_gap
from bertdistill.explain.erasure import MEASURES, eraser_values
from bertdistill.explain.measures import GAP_KEY, STUDENT_METHOD, TEACHER_METHOD, top_overlap
from bertdistill.explain.student_run import explain_models
from bertdistill.explain.teacher_attributions import guided_occlusion, integrated_gradients
from bertdistill.explain.teacher_outputs import (
    read_teacher_explanations,
    write_teacher_explanations,
)
from bertdistill.explain.teacher_run import explain_teacher, remembering

INFERENCE = InferenceParams(batch_tokens=512, max_batch_size=16, precision="fp32")
CONFIG = explain_params(**TINY_EXPLAIN | {"num_reviews": 5})


@pytest.fixture(scope="module")
def explained(tiny_bert, tmp_path_factory):
    """The explain_teacher stage's work stored and read back, then the explain stage's on it."""
    students = fit(student_params(tree_max_depth=(4,)))[0]
    reviews = synthetic_reviews(5, seed=11).assign(id=[f"r{i}" for i in range(5)])
    teacher = tiny_teacher(tiny_bert, max_len=48, seed=0)
    other = tiny_teacher(tiny_bert, max_len=48, seed=1)  # in the role of an int8 teacher's copy
    made = explain_teacher(reviews, teacher, other, INFERENCE, CONFIG, seed=3)
    folder = tmp_path_factory.mktemp("explain_teacher") / "teacher_explanations"
    write_teacher_explanations(folder, made)
    stored = read_teacher_explanations(folder)
    inputs = (stored, students, CONFIG)
    return explain_models(*inputs, seed=3), (reviews, teacher, other, made, stored, inputs)


def test_the_teachers_explanations_read_back_as_they_were_made(explained):
    _, (reviews, _, _, made, stored, _) = explained
    assert list(stored.attributions) == list(made.attributions)  # the report's method order
    assert stored.attributions == made.attributions
    for method, items in made.attributions.items():  # words in the review's order: ties
        for ours, theirs in zip(items, stored.attributions[method], strict=True):
            assert list(theirs.words.items()) == list(ours.words.items()), method
    assert stored.logits.dtype == made.logits.dtype
    np.testing.assert_array_equal(stored.logits, made.logits)
    pd.testing.assert_frame_equal(stored.deleted, made.deleted)
    assert list(stored.reviews["id"]) == list(reviews["id"])
    for method, measures in made.eraser.items():
        for measure, values in measures.items():
            np.testing.assert_array_equal(stored.eraser[method][measure], values)
    assert stored.settings == made.settings and stored.spec == made.spec


def test_a_truncated_review_keeps_its_word_order_and_sums_through_storage(tiny_bert, tmp_path):
    """A review longer than the teacher's tokens leaves words with nothing (zeros, ties): the
    stored words keep the review's order, which breaks those ties and orders the sums."""
    reviews = synthetic_reviews(3, seed=12).assign(id=["a", "b", "c"])
    teacher = tiny_teacher(tiny_bert, max_len=12, seed=0)
    config = explain_params(**TINY_EXPLAIN | {"num_reviews": 3, "occlusion_reviews": 1})
    made = explain_teacher(reviews, teacher, teacher, INFERENCE, config, seed=3)
    assert any(0.0 in item.words.values() for item in made.attributions[TEACHER_METHOD])
    write_teacher_explanations(tmp_path / "stored", made)
    stored = read_teacher_explanations(tmp_path / "stored")
    for method, items in made.attributions.items():
        for ours, theirs in zip(items, stored.attributions[method], strict=True):
            assert list(theirs.words) == list(ours.words) != sorted(ours.words), method
            assert theirs.total() == ours.total()


def test_the_teacher_side_is_repeatable_and_follows_the_seed(explained):
    _, (reviews, teacher, other, made, _, _) = explained
    again = explain_teacher(reviews, teacher, other, INFERENCE, CONFIG, seed=3)
    assert again.attributions == made.attributions
    pd.testing.assert_frame_equal(again.deleted, made.deleted)
    for method, measures in made.eraser.items():
        for measure, values in measures.items():
            np.testing.assert_array_equal(again.eraser[method][measure], values)
    other_seed = explain_teacher(reviews, teacher, other, INFERENCE, CONFIG, seed=4)
    assert not other_seed.deleted.equals(made.deleted)


def test_explain_refuses_a_folder_the_teacher_stage_did_not_finish(tmp_path):
    (tmp_path / "teacher_explanations").mkdir()
    with pytest.raises(UserError, match="dvc repro explain_teacher"):
        read_teacher_explanations(tmp_path / "teacher_explanations")


def test_every_model_and_explainer_covers_its_share_of_the_reviews(explained):
    result, (reviews, teacher, *_) = explained
    texts = reviews["text"].tolist()
    counts = {key: len(items) for key, items in result.attributions.items()}
    expected = {(TEACHER, "integrated_gradients"): 5, (TEACHER, "occlusion"): 2}
    expected |= {(TEACHER, "guided_occlusion"): 5}
    expected |= {(name, STUDENT_METHOD): 5 for name in STUDENT_NAMES}
    expected |= {(name, "lime"): 1 for name in MODEL_NAMES}
    assert counts == expected
    labelled = teacher.logits(texts, INFERENCE, progress=False)
    np.testing.assert_allclose(result.original[TEACHER], labelled, atol=1e-6)
    assert result.metrics["num_reviews"] == 5


def test_integrated_gradients_guide_occlusion_and_students_agree_with_the_guided_occlusion(
    explained,
):
    result, (reviews, teacher, other, *_) = explained
    texts = reviews["text"].tolist()
    gradients = result.attributions[(TEACHER, "integrated_gradients")]
    # Integrated Gradients ran on the copy passed to be explained, not on the labelling teacher
    expected = [integrated_gradients(other, text, 4, INFERENCE.batch_tokens) for text in texts]
    assert [item.words for item in gradients] == [item.words for item in expected]
    assert [item.words for item in gradients] != [
        integrated_gradients(teacher, text, 4, INFERENCE.batch_tokens).words for text in texts
    ]
    # guided occlusion, the reference: the labelling teacher occludes the words the copy's
    # gradients chose
    reference = result.attributions[(TEACHER, TEACHER_METHOD)]
    original = result.original[TEACHER]
    guided = guided_occlusion(teacher, texts, original, expected, 0.5, INFERENCE)
    assert TEACHER_METHOD == "guided_occlusion"
    assert [item.words for item in reference] == [item.words for item in guided]
    gap = np.mean([abs(completeness_gap(item)) for item in expected])
    assert result.metrics[GAP_KEY] == pytest.approx(gap, abs=1e-6)
    for name in STUDENT_NAMES:
        overlaps = [
            top_overlap(student, teacher_item, 3)
            for student, teacher_item in zip(
                result.attributions[(name, STUDENT_METHOD)], reference, strict=True
            )
        ]
        assert result.metrics[f"{name}_top3_overlap"] == pytest.approx(np.mean(overlaps), abs=1e-6)


def test_the_teachers_other_explainers_are_compared_with_its_reference_on_the_same_reviews(
    explained,
):
    result, (reviews, teacher, *_) = explained
    texts = reviews["text"].tolist()

    def logits_of(batch):
        return teacher.logits(batch, INFERENCE, progress=False)

    original = result.original[TEACHER]
    values = {
        method: eraser_values(texts, logits_of, original, result.attributions[(TEACHER, method)], 3)
        for method in (TEACHER_METHOD, "integrated_gradients", "occlusion")
    }
    for method, count in (("integrated_gradients", 5), ("occlusion", 2)):
        for measure in MEASURES:
            key = f"{TEACHER}_{method}_{measure}_vs_{TEACHER_METHOD}"
            expected = np.mean(values[method][measure] - values[TEACHER_METHOD][measure][:count])
            assert result.metrics[key] == pytest.approx(expected, abs=1e-5), key
            low, high = result.metrics[f"{key}_ci_low"], result.metrics[f"{key}_ci_high"]
            assert low <= result.metrics[key] <= high, key
    compared = [key for key in result.metrics if key.endswith(f"_vs_{TEACHER_METHOD}")]
    assert len(compared) == 4  # not the reference itself, nor LIME on one review
    assert not any(key.endswith(f"_vs_{STUDENT_METHOD}") for key in result.metrics)


def test_the_same_inputs_give_the_same_metrics(explained):
    result, (*_, inputs) = explained
    assert explain_models(*inputs, seed=3).metrics == result.metrics
    assert explain_models(*inputs, seed=4).metrics != result.metrics


def test_a_remembering_teacher_scores_each_distinct_text_once(tiny_bert):
    plain = tiny_teacher(tiny_bert, max_len=48, seed=0)
    teacher = remembering(plain)
    assert teacher.model is plain.model
    rows = []
    hook = teacher.model.register_forward_hook(lambda _, args, __: rows.append(len(args[0])))
    texts = synthetic_reviews(5, seed=3)["text"].tolist()
    first = [texts[0], texts[1], texts[0], texts[2]]
    found = teacher.logits(first, INFERENCE, progress=False)
    assert sum(rows) == 3 and len(teacher.memo) == 3
    second = [texts[1], texts[3], texts[2], texts[4], texts[3]]
    again = teacher.logits(second, INFERENCE, progress=False)
    assert sum(rows) == 5 and len(teacher.memo) == 5
    np.testing.assert_array_equal(again[[0, 2]], found[[1, 3]])
    hook.remove()
    np.testing.assert_allclose(found, plain.logits(first, INFERENCE, progress=False), atol=1e-6)
    np.testing.assert_allclose(again, plain.logits(second, INFERENCE, progress=False), atol=1e-6)
    assert teacher.logits([], INFERENCE, progress=False).shape == (0,)
