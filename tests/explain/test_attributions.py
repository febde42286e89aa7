"""Exact student attributions, the perturbed texts and the faithfulness and agreement measures."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputRegressor
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from support import pair_frame, synthetic_pairs, synthetic_reviews

from bertdistill.core.tables import frame_texts
from bertdistill.evaluation.statistics import mean_intervals, paired_difference
from bertdistill.explain.attributions import (
    Attribution,
    only_words,
    review_words,
    student_attribution,
    without_words,
)
from bertdistill.explain.erasure import (
    PERCENTS,
    deletions,
    eraser_measures,
    eraser_texts,
    explained_logits,
    random_ranking,
    ranking_for_prediction,
)
from bertdistill.explain.measures import deletion_fidelity, rank_correlation, top_overlap
from bertdistill.students.pair_features import side_word, student_text


@pytest.fixture(scope="module")
def corpus():
    frame = synthetic_reviews(80, seed=3)
    featurizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = featurizer.fit_transform(frame["text"])
    labels = frame["label"].to_numpy()
    targets = np.where(labels == 1, 2.0, -2.0) + np.random.default_rng(0).normal(size=len(frame))
    return frame["text"].tolist(), featurizer, features, labels, targets


MODELS = {
    "lr": lambda: LogisticRegression(C=10.0),
    "svm": lambda: LinearSVC(C=1.0, random_state=0),
    "ridge": lambda: Ridge(alpha=1.0),
    "svr": lambda: LinearSVR(C=1.0, random_state=0, max_iter=10000),
    "tree": lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
    "tree_regressor": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
}


def test_an_ngram_is_split_evenly_among_its_words():
    featurizer = TfidfVectorizer(ngram_range=(1, 2), norm=None, use_idf=False)
    features = featurizer.fit_transform(["not good", "good film"])
    model = Ridge(alpha=1.0).fit(features, [0.0, 1.0])
    vocabulary = featurizer.get_feature_names_out()
    weights = dict(zip(vocabulary, model.coef_, strict=True))
    attribution = student_attribution(model, featurizer, vocabulary, "Not good")
    assert attribution.words["not"] == pytest.approx(weights["not"] + weights["not good"] / 2)
    assert attribution.words["good"] == pytest.approx(weights["good"] + weights["not good"] / 2)
    assert attribution.bias == pytest.approx(model.intercept_)


def test_a_trees_splits_on_absent_words_are_kept_apart():
    featurizer = TfidfVectorizer()
    features = featurizer.fit_transform(["bad film", "good film", "bad plot", "fine plot"])
    model = DecisionTreeRegressor(random_state=0).fit(features, [-2.0, 2.0, -1.0, 1.0])
    vocabulary = featurizer.get_feature_names_out()
    attribution = student_attribution(model, featurizer, vocabulary, "fine plot")
    assert attribution.absent != 0  # its path tests "bad" (absent) before reaching its leaf
    assert attribution.total() == pytest.approx(1.0)


def test_words_are_removed_and_kept_whole_and_in_any_case():
    text = "The movie was GOOD, the movies were good-ish."
    assert review_words(text) == ["the", "movie", "was", "good", "movies", "were", "ish"]
    assert without_words(text, ["good", "the"]) == "movie was , movies were -ish."
    assert only_words(text, ["good", "movie"]) == "movie GOOD good"


class CountingModel:
    """A logit of (count of 'good') - (count of 'bad'): a model whose reasons are known."""

    def __call__(self, texts):
        return np.array([t.lower().split().count("good") - t.lower().split().count("bad")
                         for t in texts], dtype=float)  # fmt: skip


def test_eraser_measures_rank_the_true_reasons_above_a_random_ranking():
    texts = [" ".join(["good"] + [f"w{i}" for i in range(30)])] * 3
    model = CountingModel()
    original = model(texts)
    true = [["good", *[f"w{i}" for i in range(30)]]] * 3
    comprehensive, sufficient = eraser_measures(texts, true, model, original)
    base = 1 / (1 + np.exp(-1))
    # removing "good" drops p(positive) from sigmoid(1) to 0.5 at every k
    assert comprehensive == pytest.approx(np.full(3, base - 0.5))
    # keeping only the top words keeps "good": no drop
    assert sufficient == pytest.approx(np.zeros(3))
    shuffled = [random_ranking(text, seed) for seed, text in enumerate(texts)]
    random_comprehensive, random_sufficient = eraser_measures(texts, shuffled, model, original)
    assert random_comprehensive.mean() < comprehensive.mean()
    assert random_sufficient.mean() > sufficient.mean()


def test_eraser_texts_remove_at_least_one_word_and_then_keep_the_top_ones():
    ranking = ["a", "b", "c"]
    variants = eraser_texts("a b c a", ranking)
    assert len(variants) == 2 * len(PERCENTS)
    assert variants[0] == "b c"  # 1% of 3 words is one word
    assert variants[len(PERCENTS)] == "a a"


def test_the_ranking_follows_the_predicted_class():
    attribution = Attribution({"good": 2.0, "bad": -3.0, "film": 0.1})
    assert ranking_for_prediction(attribution, 1.5, seed=0) == ["good", "film", "bad"]
    assert ranking_for_prediction(attribution, -0.5, seed=0) == ["bad", "film", "good"]


def test_ties_are_ranked_in_a_seeded_order_and_zeros_never_count_as_top_words():
    words = [f"w{i}" for i in range(40)]
    tree_like = Attribution({word: (1.0 if word == "w30" else 0.0) for word in words})
    orders = {tuple(tree_like.ranked(1, seed)) for seed in range(5)}
    assert all(order[0] == "w30" for order in orders)
    assert len(orders) == 5  # the zeros follow in a seeded shuffle, not the review's order
    assert tree_like.ranked(1, 3) == tree_like.ranked(1, 3)
    assert tree_like.strongest(5) == ["w30"]
    teacher = Attribution({word: float(40 - i) for i, word in enumerate(words)})  # w0 strongest
    assert top_overlap(tree_like, teacher, 5) == 0.0  # its zeros on w0..w4 are no agreement


def test_agreement_measures():
    teacher = Attribution({"a": 3.0, "b": -2.0, "c": 1.0, "d": 0.5})
    same = Attribution({"a": 30.0, "b": -20.0, "c": 10.0, "d": 5.0})
    reversed_ = Attribution({"a": 0.5, "b": 1.0, "c": -2.0, "d": 3.0})
    silent = Attribution(dict.fromkeys("abcd", 0.0))
    assert top_overlap(same, teacher, 2) == 1.0
    partly = Attribution({"a": 0.1, "b": -5.0, "c": 4.0, "d": 0.0})
    assert top_overlap(partly, teacher, 2) == 0.5  # b is in both top 2s by |weight|
    assert top_overlap(reversed_, teacher, 2) == 0.0
    assert rank_correlation(same, teacher) == pytest.approx(1.0)
    assert rank_correlation(reversed_, teacher) == pytest.approx(-0.6)
    assert rank_correlation(silent, teacher) == 0.0


def test_deletion_fidelity_tells_a_tracking_student_from_an_unrelated_one():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(200, 4))
    tracking = 3 * teacher + rng.normal(scale=0.5, size=teacher.shape)
    unrelated = rng.normal(size=teacher.shape)
    changes = {"tracking": tracking, "unrelated": unrelated}
    fidelity, samples = deletion_fidelity(changes, teacher, resamples=500, seed=0)
    assert fidelity["tracking"].low > 0.8
    assert fidelity["unrelated"].low < 0 < fidelity["unrelated"].high
    assert samples["tracking"].shape == (500,)
    # paired: a difference of the same student with itself is exactly zero on every resample
    again, _ = deletion_fidelity({"copy": tracking}, teacher, resamples=500, seed=0)
    assert again["copy"] == fidelity["tracking"]


def test_deletions_remove_a_share_of_the_words():
    text = " ".join(f"w{i}" for i in range(20))
    variants = deletions(text, count=3, share=0.1, seed=0)
    assert [len(variant.split()) for variant in variants] == [18, 18, 18]
    assert variants == deletions(text, count=3, share=0.1, seed=0)
    assert len(set(variants)) > 1


def test_paired_differences_use_the_same_resamples():
    rng = np.random.default_rng(1)
    base = rng.random(300)
    values = {"gold": base, "distilled": base + 0.05, "noisy": rng.random(300)}
    means, samples = mean_intervals(values, resamples=1000, seed=0)
    assert means["gold"].low < np.mean(base) < means["gold"].high
    shift = paired_difference(means, samples, "distilled", "gold")
    assert shift.estimate == pytest.approx(0.05)
    assert shift.low == pytest.approx(0.05) and shift.high == pytest.approx(0.05)
    unpaired = paired_difference(means, samples, "noisy", "gold")
    assert unpaired.high - unpaired.low > 0.05


@pytest.fixture(scope="module")
def pair_corpus():
    frame = pair_frame(synthetic_pairs(90, seed=4))
    texts = frame_texts(frame)
    featurizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = featurizer.fit_transform([student_text(text) for text in texts])
    labels = frame["label"].to_numpy()
    logits = np.eye(3)[labels] * 3 + np.random.default_rng(0).normal(size=(len(frame), 3))
    return texts, featurizer, features, labels, logits


THREE_CLASS_MODELS = MODELS | {
    "svr": lambda: MultiOutputRegressor(LinearSVR(C=1.0, random_state=0, max_iter=10000)),
}
TASKS = {  # fixture, models, classes explained in turn (None: the two-class output)
    "two classes": ("corpus", MODELS, None),
    "three classes on pairs": ("pair_corpus", THREE_CLASS_MODELS, 3),
}


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_student_attributions_add_up_to_the_explained_output_exactly(request, task, kind):
    fixture, models, classes = TASKS[task]
    texts, featurizer, features, labels, targets = request.getfixturevalue(fixture)
    regressor = kind in ("ridge", "svr", "tree_regressor")
    model = models[kind]().fit(features, targets if regressor else labels)
    vocabulary = featurizer.get_feature_names_out()
    for position, text in enumerate(texts[:9]):
        target = None if classes is None else position % classes
        attribution = student_attribution(model, featurizer, vocabulary, text, target=target)
        row = featurizer.transform([student_text(text)])
        if kind == "tree":
            outputs = model.predict_proba(row)[0]
        elif regressor:
            outputs = model.predict(row)[0]
        else:
            outputs = model.decision_function(row)[0]
        if kind == "tree" and target is None:
            expected = outputs[1]  # two classes: the positive class's probability
        else:
            expected = outputs if target is None else outputs[target]
        assert attribution.output == pytest.approx(expected, abs=1e-12)
        assert attribution.total() == pytest.approx(expected, abs=1e-9)
        assert list(attribution.words) == review_words(text)
        if classes is not None:
            assert all(word.startswith(("p_", "h_")) for word in attribution.words)


def test_a_pairs_words_live_on_their_side_and_are_removed_and_kept_there():
    pair = ("A dog runs. The dog", "No dog runs")
    assert review_words(pair) == ["p_a", "p_dog", "p_runs", "p_the", "h_no", "h_dog", "h_runs"]
    assert without_words(pair, ["p_dog", "h_no"]) == ("A runs. The", "dog runs")
    assert only_words(pair, ["p_dog", "h_no"]) == ("dog dog", "No")
    assert side_word("new_runs") == "h_runs" and side_word("overlap_3") is None


def test_a_three_class_log_odds_has_the_class_probability_as_its_sigmoid():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    targets = np.array([0, 2])
    explained = explained_logits(logits, targets)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(1 / (1 + np.exp(-explained)), probabilities[[0, 1], targets])
    np.testing.assert_array_equal(explained_logits(logits[:, 0]), logits[:, 0])


def test_three_class_eraser_measures_the_target_class_and_ranks_towards_it():
    texts = ["good w1 w2 w3", "bad w1 w2 w3"]

    def three_logits(batch):  # class 0 counts "good", class 1 counts "bad", class 2 is flat
        return np.array(
            [[t.split().count("good"), t.split().count("bad"), 0.5] for t in batch], dtype=float
        )

    original = three_logits(texts)
    targets = np.array([0, 1])
    rankings = [["good", "w1", "w2", "w3"], ["bad", "w1", "w2", "w3"]]
    comprehensive, sufficient = eraser_measures(texts, rankings, three_logits, original, targets)
    before = explained_logits(original, targets)
    after = explained_logits(three_logits(["w1 w2 w3"] * 2), targets)
    drop = 1 / (1 + np.exp(-before)) - 1 / (1 + np.exp(-after))
    assert comprehensive == pytest.approx(drop)  # every k removes the one reason
    assert sufficient == pytest.approx(np.zeros(2))
    attribution = Attribution({"good": -1.0, "w1": 0.5})
    assert ranking_for_prediction(attribution, None, seed=0) == ["w1", "good"]
