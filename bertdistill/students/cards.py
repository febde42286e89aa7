"""Model cards for the saved students: ``<name>.md`` beside each ``<name>.skops``, made with
``skops.card.Card`` (one card per estimator, as skops builds them) and headed by the metadata
the Hugging Face Hub reads from a scikit-learn model's README (``library_name``, ``model_file``).

A card is a function of the student's file, the ``distill_students`` params and the stage's
metrics alone: no date, no path but the files beside it, no scikit-learn HTML diagram (its
element ids change every run), so writing it twice gives the same bytes, and a folder written
before cards existed gets them from its params and metrics without a re-fit
(:func:`write_cards`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bertdistill.core.errors import UserError
from bertdistill.core.files import write_text
from bertdistill.core.params import StudentParams
from bertdistill.core.registry import STUDENTS, Student
from bertdistill.evaluation.statistics import Interval, exact_binomial
from bertdistill.students.files import FEATURIZER_FILE, VOCABULARY_FILE
from bertdistill.students.fitting import candidates, search_space
from bertdistill.students.skops_files import load_skops

# isort: split
# skops.card imports skops.io, which must come first through skops_files (without torch)
import skops.card
from skops.io import get_untrusted_types

PAPER = (
    "Sridhar et al. (2020), *Distilling knowledge from BERT into Simpler Machine Learning Models*"
)
PAPER_BIBTEX = """@article{sridhar2020distilling,
  title = {Distilling knowledge from BERT into Simpler Machine Learning Models},
  author = {Sridhar and others},
  year = {2020}
}"""
INTERVAL_NAME = "Clopper-Pearson"
VALIDATION_SIZE = (
    "validation_size"  # the metrics key the cards read the validation split's size from
)
SIZE_KEYS = {  # metrics keys of the texts each student was fitted on, and what they count
    "labelled_size": "labelled texts (gold label and teacher logit)",
    "unlabeled_size": "unlabelled texts (teacher logit)",
    "augmented_size": "synthetic variants of the labelled texts (teacher logit)",
    "transfer_size": "transfer set: all of the above",
    VALIDATION_SIZE: "validation texts (gold label; hyperparameter choice)",
}
KIND_ESTIMATORS = {
    ("lr", "baseline"): "a `LogisticRegression`",
    ("lr", "distilled"): "a `Ridge` regression (the distilled form of logistic regression)",
    ("svm", "baseline"): "a `LinearSVC` (linear SVM)",
    ("svm", "distilled"): "a `LinearSVR` (linear support vector regression, the distilled SVM)",
    ("tree", "baseline"): "a `DecisionTreeClassifier`",
    ("tree", "distilled"): "a `DecisionTreeRegressor` (the distilled decision tree)",
}


def card_path(folder: str | Path, name: str) -> Path:
    """The card of student ``name`` in ``folder``."""
    return Path(folder) / f"{name}.md"


def write_cards(folder: str | Path, params: StudentParams, metrics: Mapping) -> list[Path]:
    """A card for every student file in ``folder``, from the ``distill_students`` ``params`` and
    the metrics of the stage that wrote it (``metrics/students.json`` or ``metrics/trees.json``,
    with ``validation_size``); returns the cards' paths."""
    folder = Path(folder)
    students = [s for s in STUDENTS if (folder / f"{s.name}.skops").is_file()]
    if not students:
        raise UserError(f"{folder} holds no student's .skops file: run `dvc repro`")
    written = []
    for student in students:
        written.append(card_path(folder, student.name))
        write_text(written[-1], student_card(folder, student, params, metrics))
    return written


def student_card(folder: Path, student: Student, params: StudentParams, metrics: Mapping) -> str:
    """The card of ``student``, saved in ``folder``: front matter, then the skops card."""
    model_file = f"{student.name}.skops"
    model = load_skops(folder / model_file)
    chosen = chosen_hyperparameters(student, model, params, metrics)
    accuracy = validation_accuracy(student, metrics)
    card = skops.card.Card(model, model_diagram=False)
    for unused in ("Model description/Training Procedure/Model Plot", "Model Card Contact"):
        card.delete(unused)
    card.add(
        **{
            "Model description": description(student, params, metrics),
            "Model description/Intended uses & limitations": uses_and_limits(student),
            "Model description/Training Procedure": procedure(student, params),
            "How to Get Started with the Model": get_started(folder, student, model_file),
            "Model Card Authors": "The bertdistill developers.",
            "Citation": f"The method's paper:\n\n```bibtex\n{PAPER_BIBTEX}\n```",
        }
    )
    card.add_hyperparams(
        description="Every parameter of the saved estimator (`get_params()`); those chosen on "
        "validation are under Model selection."
    )
    tables = {
        "Features": features_table(student, params, metrics),
        "Training data": {
            "texts": list(SIZE_KEYS.values()),
            "count": [metric(metrics, key, student) for key in SIZE_KEYS],
        },
        "Model selection": chosen,
    }
    for title, table in tables.items():
        key = f"Model description/Training Procedure/{title}"
        card.add_table(**{key: table})
        card.select(key).title = title  # add_table titles a subsection by its whole key
    validation_size = metric(metrics, VALIDATION_SIZE, student)
    card.add_metrics(
        description=f"Accuracy on the {validation_size} validation texts, the split every "
        f"candidate was scored on, with its 95% {INTERVAL_NAME} (exact binomial) interval. The "
        "kept candidate is the best of several on these texts, so the figure is optimistic; "
        "the pipeline's `evaluate` stage scores every model on the held-out test split.",
        **{
            "validation accuracy": f"{accuracy.estimate:.4f}",
            f"95% interval, {INTERVAL_NAME}": f"[{accuracy.low:.4f}, {accuracy.high:.4f}]",
        },
    )
    return front_matter(student, model_file) + card.render()


def metric(metrics: Mapping, key: str, student: Student):
    """``metrics[key]``; a missing key is a user error naming the metrics to pass."""
    if key not in metrics:
        hint = " (metrics/prepare.json has it)" if key == VALIDATION_SIZE else ""
        raise UserError(
            f"the metrics given for {student.name}'s card lack '{key}'{hint}: pass the metrics "
            f"of the run that wrote the student (metrics/students.json or metrics/trees.json)"
        )
    return metrics[key]


def chosen_hyperparameters(
    student: Student, model, params: StudentParams, metrics: Mapping
) -> dict[str, list]:
    """Model selection as a table: each searched hyperparameter, its value chosen on
    validation and the candidates tried; checked against the saved model and ``params``."""
    space = search_space(student.kind, student.variant, params)
    tried = metric(metrics, f"{student.name}_candidates", student)
    if tried != len(candidates(space)):
        raise UserError(
            f"{student.name} was chosen from {tried} candidates, but the distill_students "
            f"params give {len(candidates(space))}: pass the params of the run that fitted it"
        )
    fitted = model.get_params()
    chosen = {key: metric(metrics, f"{student.name}_{key}", student) for key in space}
    for key, value in chosen.items():
        if fitted.get(key, fitted.get(f"estimator__{key}")) != value:
            raise UserError(
                f"the metrics give {student.name} {key}={value}, its file another value: "
                f"pass the metrics of the run that wrote the student"
            )
    return {
        "hyperparameter": list(space),
        "chosen on validation": [str(chosen[key]) for key in space],
        f"candidates ({tried} combinations tried)": [
            ", ".join(map(str, values)) for values in space.values()
        ],
    }


def validation_accuracy(student: Student, metrics: Mapping) -> Interval:
    """The student's validation accuracy and its exact binomial interval, from the count of
    validation texts it implies."""
    accuracy = metric(metrics, f"{student.name}_val_accuracy", student)
    size = metric(metrics, VALIDATION_SIZE, student)
    right = round(accuracy * size)
    if abs(right / size - accuracy) > 1e-6:
        raise UserError(
            f"{student.name}'s validation accuracy {accuracy} is no count of {size} texts: "
            f"'{VALIDATION_SIZE}' is not the size of the run's validation split"
        )
    return exact_binomial(right, size)


def target_phrase(params: StudentParams) -> str:
    scale = f"logits / temperature ({params.temperature})"
    if params.target == "probabilities":
        return f"probabilities (the sigmoid, or with K classes the softmax, of its {scale})"
    return scale


def description(student: Student, params: StudentParams, metrics: Mapping) -> str:
    estimator = KIND_ESTIMATORS[student.kind, student.variant]
    labelled = metric(metrics, "labelled_size", student)
    transfer = metric(metrics, "transfer_size", student)
    if student.variant == "baseline":
        fitted = (
            f"fitted to the gold labels of the {labelled} labelled texts only: "
            "the gold-label twin of the distilled student"
        )
    else:
        blend = (
            f", the gold label blended into the labelled texts' targets with weight "
            f"{params.gold_alpha}"
            if params.gold_alpha
            else ""
        )
        fitted = (
            f"distilled from a fine-tuned BERT teacher: it regresses the teacher's "
            f"{target_phrase(params)} over the transfer set's {transfer} "
            f"texts{blend}"
        )
    return (
        f"**{student.name}** ({student.title}): {estimator} on TF-IDF word n-grams, {fitted}. "
        f"One of six "
        f"scikit-learn students of the bertdistill pipeline, which repeats and extends the "
        f"experiment of {PAPER}: three student kinds (logistic regression, linear SVM, "
        f"decision tree), each fitted to gold labels and, as a twin on the same features, "
        f"distilled from the teacher's logits."
    )


def uses_and_limits(student: Student) -> str:
    reading = (
        "each word's contribution to a prediction is exact (coefficient times TF-IDF weight)"
        if student.linear
        else "each prediction follows one readable path of n-gram thresholds"
    )
    return (
        "Intended use: classifying texts of the task and domain it was trained on (by default "
        "the sentiment of English IMDB movie reviews) where a small, fast, interpretable model "
        f"is wanted in place of the BERT teacher: {reading}. It also serves to compare gold-label "
        "and distilled students.\n\n"
        "Limits: a bag of word 1- to n-grams sees no word order beyond the n-gram, so negation "
        "and sarcasm over longer spans escape it; n-grams outside its vocabulary are ignored, "
        "and a text with none of them gets the model's prior; it was trained on few gold labels "
        "and has not been tested outside its domain; a distilled student inherits the teacher's "
        "errors and biases. It is not meant for decisions about people."
    )


def procedure(student: Student, params: StudentParams) -> str:
    target = (
        "the gold labels of the labelled texts"
        if student.variant == "baseline"
        else f"the teacher's {target_phrase(params)} on every text of the transfer set"
    )
    return (
        "One TF-IDF featuriser (`featurizer.skops`, its vocabulary in `vocabulary.json`) is "
        "fitted on the transfer set's texts and shared by every student. This student was "
        f"fitted to {target}. Every candidate of its grid was fitted and scored by accuracy on "
        "the validation split (never the test split), and the best kept, ties going to the "
        "first; its gold-label or distilled twin got a grid of the same size."
    )


def features_table(student: Student, params: StudentParams, metrics: Mapping) -> dict[str, list]:
    tfidf = params.tfidf
    settings = {
        "n-grams (words)": f"1 to {tfidf.ngram_max}",
        "min_df": tfidf.min_df,
        "max_df": tfidf.max_df,
        "max_features": tfidf.max_features,
        "sublinear_tf": tfidf.sublinear_tf,
        "vocabulary size": metric(metrics, "tfidf_features", student),
    }
    return {"setting": list(settings), "value": [str(value) for value in settings.values()]}


def untrusted(path: Path) -> str:
    """The list ``skops.io.get_untrusted_types`` reports for ``path``, as Python source."""
    return repr(get_untrusted_types(file=path))


def get_started(folder: Path, student: Student, model_file: str) -> str:
    output = (
        "the class id"
        if student.variant == "baseline"
        else "the regressed teacher output (see Model description)"
    )
    return f"""Paths are relative to the folder holding this card. With bertdistill installed, its
loader checks every type in the files against the project's allow-list and restores the
featuriser's vocabulary:

```python
from bertdistill.students.files import load_students

students = load_students(".", names=["{student.name}"])
students.logits("{student.name}", ["A wonderful film."])  # > 0: class 1 (K classes: the largest)
```

With skops alone: pass `trusted=` exactly the types `skops.io.get_untrusted_types` reports,
after checking them (when this card was written it reported the lists below); never load a
pickle. Sentence pairs need bertdistill's `student_text` before the featuriser.

```python
import json

from skops.io import get_untrusted_types, load

print(get_untrusted_types(file="{model_file}"))
model = load("{model_file}", trusted={untrusted(folder / model_file)})
featurizer = load("{FEATURIZER_FILE}", trusted={untrusted(folder / FEATURIZER_FILE)})
with open("{VOCABULARY_FILE}", encoding="utf-8") as terms:
    featurizer.vocabulary_ = {{term: column for column, term in enumerate(json.load(terms))}}
# {output}
model.predict(featurizer.transform(["A wonderful film."]))
```"""


def front_matter(student: Student, model_file: str) -> str:
    """The metadata the Hugging Face Hub reads from a model card (a README.md there)."""
    tags = ["sklearn", "skops", "text-classification", "tf-idf"]
    if student.variant == "distilled":
        tags.append("knowledge-distillation")
    lines = [
        "---",
        "library_name: sklearn",
        "tags:",
        *(f"- {tag}" for tag in tags),
        "model_format: skops",
        f"model_file: {model_file}",
        "---",
    ]
    return "\n".join(lines) + "\n"
