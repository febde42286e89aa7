import numpy as np
import pytest
import torch
from conftest import explain_params, synthetic_reviews
from transformers import AutoModel, AutoTokenizer

from bertdistill.config import InferenceParams
from bertdistill.explaining import explain_models
from bertdistill.explanation_metrics import GAP_KEY, STUDENT_METHOD, TEACHER_METHOD
from bertdistill.faithfulness import top_overlap
from bertdistill.inference import Teacher
from bertdistill.registry import MODEL_NAMES, STUDENT_NAMES, TEACHER
from bertdistill.teacher_attribution import completeness_gap, integrated_gradients
from bertdistill.teacher_model import BertBinaryClassifier, EncodingSpec

INFERENCE = InferenceParams(batch_tokens=512, max_batch_size=16, precision="fp32")
CONFIG = explain_params(
    num_reviews=5,
    ig_steps=4,
    occlusion_reviews=2,
    lime_reviews=1,
    num_samples=30,
    top_k=3,
    deletions=2,
    bootstrap_resamples=1000,
    min_interval_reviews=2,
)


def tiny_teacher(model_folder, seed: int) -> Teacher:
    torch.manual_seed(seed)
    encoder = AutoModel.from_pretrained(model_folder, add_pooling_layer=False)
    model = BertBinaryClassifier(encoder, "mean", dropout=0.0).eval()
    spec = EncodingSpec(max_len=48, truncation="head_tail", head_tokens=8, pooling="mean")
    return Teacher(model, AutoTokenizer.from_pretrained(model_folder), spec, torch.device("cpu"))


@pytest.fixture(scope="module")
def explained(tiny_bert):
    from test_students import fit, student_params

    students = fit(student_params(tree_max_depth=(4,)))[0]
    reviews = synthetic_reviews(5, seed=11).assign(id=[f"r{i}" for i in range(5)])
    teacher = tiny_teacher(tiny_bert, seed=0)
    other = tiny_teacher(tiny_bert, seed=1)  # where the int8 teacher's fp32 copy would be
    result = explain_models(reviews, teacher, other, students, INFERENCE, CONFIG, seed=3)
    return result, reviews["text"].tolist(), teacher, other


def test_every_model_and_explainer_covers_its_share_of_the_reviews(explained):
    result, texts, teacher, _ = explained
    counts = {key: len(items) for key, items in result.attributions.items()}
    expected = {(TEACHER, TEACHER_METHOD): 5, (TEACHER, "occlusion"): 2}
    expected |= {(name, STUDENT_METHOD): 5 for name in STUDENT_NAMES}
    expected |= {(name, "lime"): 1 for name in MODEL_NAMES}
    assert counts == expected
    labelled = teacher.logits(texts, INFERENCE, progress=False)
    np.testing.assert_allclose(result.original[TEACHER], labelled, atol=1e-6)
    assert result.metrics["num_reviews"] == 5


def test_integrated_gradients_explain_the_given_copy_and_students_agree_with_them(explained):
    result, texts, teacher, other = explained
    reference = result.attributions[(TEACHER, TEACHER_METHOD)]
    # Integrated Gradients ran on the copy passed to be explained, not on the labelling teacher
    expected = [integrated_gradients(other, text, 4, INFERENCE.batch_tokens) for text in texts]
    assert [item.words for item in reference] == [item.words for item in expected]
    assert [item.words for item in reference] != [
        integrated_gradients(teacher, text, 4, INFERENCE.batch_tokens).words for text in texts
    ]
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


def test_the_same_inputs_give_the_same_metrics(explained, tiny_bert):
    from test_students import fit, student_params

    result, texts, teacher, other = explained
    students = fit(student_params(tree_max_depth=(4,)))[0]
    reviews = synthetic_reviews(5, seed=11).assign(id=[f"r{i}" for i in range(5)])
    again = explain_models(reviews, teacher, other, students, INFERENCE, CONFIG, seed=3)
    assert again.metrics == result.metrics
    reseeded = explain_models(reviews, teacher, other, students, INFERENCE, CONFIG, seed=4)
    assert reseeded.metrics != result.metrics
