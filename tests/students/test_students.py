import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.multioutput import MultiOutputRegressor
from support import (
    fake_teacher_logits,
    fit,
    pair_frame,
    student_params,
    synthetic_pairs,
    synthetic_reviews,
    transfer_set,
)
from threadpoolctl import threadpool_limits

from bertdistill.core.errors import UserError
from bertdistill.core.params import StudentParams, TfidfParams
from bertdistill.core.registry import KINDS, STUDENT_NAMES
from bertdistill.core.tables import frame_texts
from bertdistill.students.files import (
    FEATURIZER_FILE,
    VOCABULARY_FILE,
    load_students,
    save_replicates,
    save_students,
)
from bertdistill.students.fitting import (
    KIND_KEYS,
    SHARED_KEYS,
    build_student,
    candidates,
    draws_random_numbers,
    fit_candidate,
    fit_featurizer,
    fit_students,
    search_space,
)
from bertdistill.students.pair_features import cross_features, student_text
from bertdistill.students.skops_files import load_skops
from bertdistill.students.transfer_set import TransferSet, distillation_targets, unlabeled_subset


@pytest.fixture(scope="module")
def fitted():
    return fit(student_params())[0]


def test_distillation_targets():
    logits = np.array([-2.0, 0.0, 4.0])
    np.testing.assert_allclose(distillation_targets(logits, "logits", 2.0), [-1.0, 0.0, 2.0])
    probabilities = distillation_targets(logits, "probabilities", 1.0)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)))


def test_gold_alpha_blends_gold_labels_into_labelled_rows_only():
    logits = np.array([-2.0, 4.0, 1.0, -3.0])
    gold = np.array([1, 1, -1, -1])  # two labelled rows (the first one the teacher got wrong)
    blended = distillation_targets(logits, "logits", 1.0, gold, gold_alpha=0.5)
    # The gold target is +-3, the teacher's mean absolute logit on the labelled rows.
    np.testing.assert_allclose(blended, [0.5 * -2.0 + 0.5 * 3.0, 0.5 * 4.0 + 1.5, 1.0, -3.0])
    np.testing.assert_allclose(distillation_targets(logits, "logits", 1.0, gold, 0.0), logits)
    probabilities = distillation_targets(logits, "probabilities", 2.0, gold, gold_alpha=1.0)
    np.testing.assert_allclose(probabilities[:2], [1.0, 1.0])
    np.testing.assert_allclose(probabilities[2:], 1 / (1 + np.exp(-logits[2:] / 2.0)))


def test_transfer_set_keeps_every_source_and_counts_it():
    transfer = transfer_set(unlabeled_size=30, augmented_size=20)
    # transfer_set: 80 labelled reviews (seed 1), then the unlabelled (seed 2), the synthetic (6)
    assert transfer.counts() == {"labelled": 80, "unlabelled": 30, "augmented": 20}
    assert transfer.source.tolist() == ["labelled"] * 80 + ["unlabelled"] * 30 + ["augmented"] * 20
    train, unlabeled = synthetic_reviews(80, seed=1), synthetic_reviews(30, seed=2)
    augmented = synthetic_reviews(20, seed=6)
    assert transfer.texts == [*train["text"], *unlabeled["text"], *augmented["text"]]
    assert transfer.gold.tolist() == train["label"].tolist() + [-1] * 50
    assert transfer.teacher_logits[80] == fake_teacher_logits(unlabeled["label"].to_numpy(), 1)[0]
    assert transfer_set(unlabeled_size=30).counts() == {
        "labelled": 80,
        "unlabelled": 30,
        "augmented": 0,
    }
    with pytest.raises(ValueError, match="unlabelled: 2 texts but 1 teacher logits"):
        TransferSet.build((["a"], np.array([1]), np.array([0.5])), (["b", "c"], np.array([1.0])))


def test_baselines_see_only_labelled_rows_and_distilled_students_all_rows():
    # The unlabelled and synthetic rows carry logits that say the opposite of their words: a
    # baseline that saw them, or a distilled student that did not, would show it.
    transfer = transfer_set(unlabeled_size=400)
    transfer.teacher_logits[transfer.source != "labelled"] *= -1
    validation = synthetic_reviews(40, seed=5)
    students, _ = fit_students(
        transfer,
        validation["text"].tolist(),
        validation["label"].to_numpy(),
        student_params(),
        seed=0,
    )
    test = synthetic_reviews(60, seed=3)
    for kind in ("lr", "svm"):
        baseline = students.logits(f"{kind}_baseline", test["text"].tolist())
        distilled = students.logits(f"{kind}_distilled", test["text"].tolist())
        assert np.mean((baseline > 0) == test["label"]) >= 0.8, kind
        assert np.mean((distilled > 0) == test["label"]) <= 0.5, kind


def test_all_six_students_learn_the_task(fitted):
    test = synthetic_reviews(60, seed=3)
    assert sorted(fitted.models) == [
        "lr_baseline",
        "lr_distilled",
        "svm_baseline",
        "svm_distilled",
        "tree_baseline",
        "tree_distilled",
    ]
    for name in STUDENT_NAMES:
        accuracy = np.mean((fitted.logits(name, test["text"].tolist()) > 0) == test["label"])
        assert accuracy >= 0.8, name


def test_distilled_regressors_fit_the_teacher_scale(fitted):
    texts = synthetic_reviews(40, seed=1)["text"].tolist()
    ridge_logits = fitted.logits("lr_distilled", texts)
    assert 1.0 < np.abs(ridge_logits).mean() < 5.0
    probabilities = fitted.proba_function("lr_distilled")(texts)
    np.testing.assert_allclose(probabilities[:, 1], 1 / (1 + np.exp(-ridge_logits)))
    np.testing.assert_allclose(probabilities[:, 0], 1 / (1 + np.exp(ridge_logits)))


def test_probability_targets_are_mapped_back_to_logits():
    students, _ = fit(student_params(target="probabilities", temperature=2.0), unlabeled_size=0)
    train = synthetic_reviews(80, seed=1)
    logits = students.logits("lr_distilled", train["text"].tolist())
    assert np.mean((logits > 0) == train["label"]) >= 0.9


def test_search_keeps_the_candidate_with_the_best_validation_accuracy():
    # A depth-1 tree sees one word; depth 8 sees many: validation must prefer the deeper tree.
    params = student_params(tree_max_depth=(1, 8), lr_C=(1e-4, 4.0), ridge_alpha=(1.0, 1e6))
    students, selections = fit(params)
    for name in ("tree_baseline", "tree_distilled"):
        assert selections[name].hyperparameters == {"max_depth": 8, "min_samples_leaf": 1}
        assert selections[name].tried == 2
        assert students.models[name].max_depth == 8
    assert selections["lr_baseline"].hyperparameters == {"C": 4.0}
    assert selections["lr_distilled"].hyperparameters == {"alpha": 1.0}
    assert selections["svm_distilled"].tried == 1
    # each kept student's validation accuracy is that of its predictions on fit()'s validation set
    validation = synthetic_reviews(40, seed=5)
    for name, selection in selections.items():
        predicted = students.logits(name, validation["text"].tolist()) > 0
        assert selection.val_accuracy == np.mean(predicted == validation["label"]), name
    assert selections["lr_distilled"].val_accuracy >= 0.8


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    save_students(tmp_path / "students", fitted)
    loaded = load_students(tmp_path / "students")
    texts = synthetic_reviews(10, seed=4)["text"].tolist()
    for name in STUDENT_NAMES:
        np.testing.assert_array_equal(loaded.logits(name, texts), fitted.logits(name, texts))


def test_vocabulary_is_stored_as_a_term_list_and_checked_on_load(fitted, tmp_path):
    folder = tmp_path / "students"
    save_students(folder, fitted)
    terms = json.loads((folder / VOCABULARY_FILE).read_text())
    assert terms == fitted.featurizer.get_feature_names_out().tolist()
    assert "vocabulary_" not in load_skops(folder / FEATURIZER_FILE).__dict__
    (folder / VOCABULARY_FILE).write_text(json.dumps(terms[:-1]))
    with pytest.raises(UserError, match="vocabulary.json does not hold the .* distinct terms"):
        load_students(folder)
    (folder / VOCABULARY_FILE).write_text("{not json")
    with pytest.raises(UserError, match="vocabulary.json is missing or not JSON"):
        load_students(folder)


def test_a_pickle_in_place_of_a_student_is_refused(fitted, tmp_path):
    save_students(tmp_path / "students", fitted)
    target = tmp_path / "students" / "lr_baseline.skops"
    target.write_bytes(pickle.dumps(fitted.models["lr_baseline"]))
    with pytest.raises(UserError, match="not a skops file.*Pickles are never loaded"):
        load_skops(target)
    with pytest.raises(UserError, match="holds no trained students"):
        load_students(tmp_path)


def test_a_skops_file_with_foreign_types_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    sio.dump(Pipeline([("f", FunctionTransformer(np.exp))]), path)
    with pytest.raises(UserError, match="outside this project's allow-list"):
        load_skops(path)


def test_saving_twice_gives_byte_identical_files(fitted, tmp_path):
    import time

    save_students(tmp_path / "first", fitted)
    time.sleep(2.1)  # zip timestamps have a 2-second resolution
    save_students(tmp_path / "second", fitted)
    files = sorted(path for path in (tmp_path / "first").rglob("*") if path.is_file())
    assert len(files) > 10
    for path in files:
        relative = path.relative_to(tmp_path / "first")
        assert path.read_bytes() == (tmp_path / "second" / relative).read_bytes(), relative


def test_loading_the_student_files_module_leaves_torch_usable():
    """student_files hides torch while skops imports; torch and scikit-learn's view of it work
    afterwards (in a fresh process, so the import order is the one a stage sees)."""
    probe = (
        "import sys\n"
        "import bertdistill.students.files\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "import torch\n"
        "from sklearn.externals.array_api_compat import is_torch_array\n"
        "assert is_torch_array(torch.zeros(2))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-1500:]


def test_the_vocabulary_cut_breaks_ties_by_the_ngram_not_by_the_sort():
    """max_features keeps the most frequent n-grams, equal counts going to the alphabetically
    first: the same vocabulary on any CPU (NumPy's default sort orders ties by CPU)."""
    from bertdistill.students.fitting import fit_featurizer

    texts = ["delta echo alpha", "charlie bravo delta", "echo foxtrot"]
    params = TfidfParams(ngram_max=1, min_df=1, max_df=1.0, max_features=4, sublinear_tf=True)
    featurizer, features = fit_featurizer(params, texts)
    # delta and echo appear twice; alpha, bravo, charlie and foxtrot once each
    assert sorted(featurizer.vocabulary_) == ["alpha", "bravo", "delta", "echo"]
    assert features.shape == (3, 4) and featurizer.vocabulary is None
    np.testing.assert_allclose(features.toarray(), featurizer.transform(texts).toarray())


RANDOM_STUDENTS = ["svm_baseline", "svm_distilled", "tree_baseline", "tree_distilled"]


def test_replicates_refit_the_chosen_students_whose_fit_draws_random_numbers(tmp_path):
    params = student_params(seeds=3, tree_max_depth=(1, 8), svm_C=(0.5, 2.0))
    students, selections = fit(params)
    assert sorted(students.replicates) == [1, 2]  # fit() uses seed 0
    assert students.refitted() == tuple(RANDOM_STUDENTS)
    texts = synthetic_reviews(30, seed=4)["text"].tolist()
    features = students.featurizer.transform(texts)
    for seed, models in students.replicates.items():
        assert sorted(models) == RANDOM_STUDENTS  # lbfgs LR and Ridge: fitted once
        for name, model in models.items():
            assert model.random_state == seed, name
            chosen = selections[name].hyperparameters
            assert {key: model.get_params()[key] for key in chosen} == chosen, name
    save_students(tmp_path / "students", students)
    save_replicates(tmp_path / "seeds", students.replicates)
    loaded = load_students(tmp_path / "students", replicates=tmp_path / "seeds")
    assert sorted(loaded.replicates) == [1, 2] and loaded.refitted() == tuple(RANDOM_STUDENTS)
    for name in STUDENT_NAMES:
        saved, reloaded = (
            students.replicate_logits(name, features),
            loaded.replicate_logits(name, features),
        )
        assert sorted(saved) == ([1, 2] if name in RANDOM_STUDENTS else []), name
        for seed in saved:
            np.testing.assert_array_equal(reloaded[seed], saved[seed])
    assert load_students(tmp_path / "students").replicates == {}
    one_seed = fit(student_params())[0]
    assert one_seed.replicates == {}
    save_replicates(tmp_path / "one_seed", one_seed.replicates)
    assert load_students(tmp_path / "students", replicates=tmp_path / "one_seed").replicates == {}
    with pytest.raises(UserError, match="no_such/seeds.json is missing or unreadable"):
        load_students(tmp_path / "students", replicates=tmp_path / "no_such")


@pytest.mark.parametrize("variant", ["baseline", "distilled"])
@pytest.mark.parametrize("kind", ["lr", "svm", "tree"])
def test_a_fit_said_to_draw_no_random_numbers_gives_the_same_bytes_for_every_seed(kind, variant):
    transfer = transfer_set()
    rows = transfer.source == "labelled" if variant == "baseline" else slice(None)
    features = fit_featurizer(student_params().tfidf, transfer.texts)[1][rows]
    target = transfer.gold[rows] if variant == "baseline" else transfer.teacher_logits
    space = search_space(kind, variant, student_params())
    hyperparameters = candidates(space)[0]
    fits = [
        build_student(kind, variant, hyperparameters, student_params(), seed).fit(features, target)
        for seed in (0, 1)
    ]
    said = [draws_random_numbers(model) for model in fits]
    assert said[0] == said[1] == (kind != "lr")
    if not said[0]:  # the same bytes but for the seed itself, which this fit never read
        first, second = (pickle.dumps(model.set_params(random_state=None)) for model in fits)
        assert first == second


def test_a_fit_does_not_follow_the_blas_threads_of_its_process():
    """OpenBLAS sums vectors of more than about 10,000 entries in another order with another
    thread count (joblib's workers get fewer threads than the main process)."""
    rng = np.random.default_rng(0)
    features = sp.random(400, 30000, density=0.003, random_state=0, format="csr")
    data = {
        "baseline": (features, (rng.random(400) > 0.5).astype(int)),
        "distilled": (features, rng.normal(size=400)),
    }
    for variant, (rows, target) in data.items():
        fitted = []
        for threads in (1, 2):
            with threadpool_limits(limits=threads, user_api="blas"):
                model, _ = fit_candidate(
                    "lr", variant, {"C": 4.0} if variant == "baseline" else {"alpha": 1.0},
                    student_params(), 0, 1, (rows, target, rows[:10], target[:10] > 0),
                )  # fmt: skip
            fitted.append(model.coef_)
        np.testing.assert_array_equal(fitted[0], fitted[1])


def test_the_number_of_parallel_fits_changes_no_byte(tmp_path):
    grids = {"tree_max_depth": (2, 8), "svm_C": (0.5, 2.0), "ridge_alpha": (0.1, 3.0)}
    params = student_params(seeds=2, **grids)
    files = {}
    for n_jobs in (1, 2):
        students, selections = fit(params.model_copy(update={"n_jobs": n_jobs}))
        save_students(tmp_path / f"students{n_jobs}", students)
        save_replicates(tmp_path / f"seeds{n_jobs}", students.replicates)
        files[n_jobs] = {
            (kind, path.relative_to(tmp_path / f"{kind}{n_jobs}")): path.read_bytes()
            for kind in ("students", "seeds")
            for path in sorted((tmp_path / f"{kind}{n_jobs}").rglob("*"))
            if path.is_file()
        }
        assert selections["tree_baseline"].tried == 2
    assert len(files[1]) > 10
    assert files[1] == files[2]


def test_unlabeled_subset_is_seeded_sorted_and_nested():
    small, large = unlabeled_subset(1000, 100, seed=3), unlabeled_subset(1000, 400, seed=3)
    assert len(small) == 100 and len(np.unique(small)) == 100
    assert np.all(np.diff(large) > 0)
    assert set(small) <= set(large)
    assert np.array_equal(small, unlabeled_subset(1000, 100, seed=3))
    assert not np.array_equal(small, unlabeled_subset(1000, 100, seed=4))
    assert unlabeled_subset(50, 0, seed=3).size == 0
    assert np.array_equal(unlabeled_subset(50, None, seed=3), np.arange(50))
    with pytest.raises(ValueError, match="limit 51 exceeds the 50 rows"):
        unlabeled_subset(50, 51, seed=3)


def pair_teacher_logits(labels: np.ndarray, seed: int) -> np.ndarray:
    """Three logits per pair from a teacher right on every pair, its confidence spread."""
    spread = np.random.default_rng(seed).uniform(1.0, 4.0, size=len(labels))
    return np.eye(3)[labels] * (2 * spread)[:, None] - spread[:, None]


def test_pair_students_read_spaced_words_and_cross_features():
    text = student_text(("A man sleeps in a park.", "The man isn't awake."))
    assert text.split() == [
        *(["p_a", "p_man", "p_sleeps", "p_in", "p_a", "p_park"]),
        *(["h_the", "h_man", "h_isn", "h_t", "h_awake"]),
        *(["new_the", "new_isn", "new_t", "new_awake"]),
        "neg_t",
        "overlap_1",  # 1 of the hypothesis' 5 words is in the premise
    ]
    assert student_text("a single text") == "a single text"
    assert cross_features(["a", "dog"], ["a", "dog"]) == ["overlap_4"]


def test_three_class_students_on_pairs_predict_the_argmax_and_round_trip(tmp_path):
    train, unlabeled = pair_frame(synthetic_pairs(90, 1)), pair_frame(synthetic_pairs(120, 2))
    validation = pair_frame(synthetic_pairs(45, 3))
    labels = train["label"].to_numpy()
    transfer = TransferSet.build(
        (frame_texts(train), labels, pair_teacher_logits(labels, 0)),
        (frame_texts(unlabeled), pair_teacher_logits(unlabeled["label"].to_numpy(), 1)),
    )
    assert transfer.teacher_logits.shape == (210, 3)
    params = student_params(seeds=2)
    students, selections = fit_students(
        transfer, frame_texts(validation), validation["label"].to_numpy(), params, seed=0
    )
    test = pair_frame(synthetic_pairs(60, 4))
    for name in STUDENT_NAMES:
        logits = students.logits(name, frame_texts(test))
        assert logits.shape == (60, 3), name
        accuracy = np.mean(logits.argmax(axis=1) == test["label"])
        assert accuracy >= 0.8, (name, accuracy)  # a third by chance
    assert isinstance(students.models["svm_distilled"], MultiOutputRegressor)
    np.testing.assert_allclose(
        students.logits("lr_distilled", frame_texts(test)),
        students.models["lr_distilled"].predict(students.features(frame_texts(test))),
    )
    save_students(tmp_path / "students", students)
    assert not (tmp_path / "students" / "linear").exists()  # the numpy export is two-class
    loaded = load_students(tmp_path / "students")
    for name in STUDENT_NAMES:
        np.testing.assert_array_equal(
            loaded.logits(name, frame_texts(test)), students.logits(name, frame_texts(test))
        )


def test_gold_alpha_is_refused_for_three_classes():
    with pytest.raises(UserError, match="gold_alpha"):
        distillation_targets(np.zeros((4, 3)), "logits", 1.0, np.array([0, 1, 2, -1]), 0.5)
    probabilities = distillation_targets(np.array([[0.0, 0.0, np.log(2.0)]]), "probabilities", 1.0)
    np.testing.assert_allclose(probabilities, [[0.25, 0.25, 0.5]])


# A changed value for every per-kind key: a list grid gets another candidate.
CHANGED = {
    "lr_C": (1.0,),
    "ridge_alpha": (9.0,),
    "svm_C": (7.0,),
    "svr_C": (3.0,),
    "svr_epsilon": 0.5,
    "max_iter": 17,
    "tree_max_depth": (3,),
    "tree_min_samples_leaf": (4,),
}


def test_the_declared_keys_cover_the_section_and_each_kind_reads_only_its_own():
    fields = set(StudentParams.model_fields)
    assert set(SHARED_KEYS).union(*KIND_KEYS.values()) == fields
    assert set(CHANGED) == set().union(*KIND_KEYS.values())
    base = student_params()
    for kind in KINDS:
        for key, value in CHANGED.items():
            changed = base.model_copy(update={key: value})
            for variant in ("baseline", "distilled"):
                space, other = (search_space(kind, variant, p) for p in (base, changed))
                built = [
                    build_student(kind, variant, candidates(s)[0], p, 0).get_params()
                    for s, p in ((space, base), (other, changed))
                ]
                if key not in KIND_KEYS[kind]:
                    assert (space, built[0]) == (other, built[1]), (kind, variant, key)
            # a key of the kind's own changes one of its two students
            if key in KIND_KEYS[kind]:
                assert any(
                    build_student(
                        kind, v, candidates(search_space(kind, v, base))[0], base, 0
                    ).get_params()
                    != build_student(
                        kind, v, candidates(search_space(kind, v, changed))[0], changed, 0
                    ).get_params()
                    for v in ("baseline", "distilled")
                ), (kind, key)


def test_students_of_separate_folders_load_together_and_stale_ones_are_refused(tmp_path):
    transfer = transfer_set()
    val = synthetic_reviews(30, seed=3)
    params = student_params(seeds=2)
    for kinds, out in ((("lr", "svm"), "students"), (("tree",), "trees")):
        students, _ = fit_students(
            transfer, val["text"].tolist(), val["label"].to_numpy(), params, 0, kinds
        )
        assert {name.split("_")[0] for name in students.models} == set(kinds)
        save_students(tmp_path / out, students)
        save_replicates(tmp_path / f"{out}_seeds", students.replicates)
    assert (tmp_path / "students" / FEATURIZER_FILE).read_bytes() == (
        tmp_path / "trees" / FEATURIZER_FILE
    ).read_bytes()
    folders = [tmp_path / "students", tmp_path / "trees"]
    both = load_students(
        folders, replicates=[tmp_path / "students_seeds", tmp_path / "trees_seeds"]
    )
    assert set(both.models) == set(STUDENT_NAMES)
    assert set(both.refitted()) == {
        "svm_baseline",
        "svm_distilled",
        "tree_baseline",
        "tree_distilled",
    }
    with pytest.raises(UserError, match=r"no tree_baseline\.skops in"):
        load_students(folders[:1])
    other = student_params(tfidf=params.tfidf.model_copy(update={"ngram_max": 1}))
    trees, _ = fit_students(
        transfer, val["text"].tolist(), val["label"].to_numpy(), other, 0, ("tree",)
    )
    save_students(tmp_path / "trees", trees)
    with pytest.raises(UserError, match="different featurisers or targets: re-run `dvc repro`"):
        load_students(folders)
