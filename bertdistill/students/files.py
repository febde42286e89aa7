"""Students on disk: a folder of skops files (:mod:`bertdistill.students.skops_files`), the
featuriser's vocabulary as JSON, the numpy export of the linear students, and loading them all."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_folder
from bertdistill.core.registry import LINEAR_STUDENTS, STUDENT_NAMES
from bertdistill.students.models import Students
from bertdistill.students.numpy_linear import export_linear, exportable
from bertdistill.students.skops_files import dump_skops, load_skops

FEATURIZER_FILE = "featurizer.skops"
# The vocabulary lives beside the featuriser as a JSON list of terms in column order: skops
# serialises a dict entry by entry, and a 200,000-term vocabulary took it about 30 minutes.
VOCABULARY_FILE = "vocabulary.json"
META_FILE = "students.json"
# The students re-fitted with further seeds live in their own folder (<seed>/<name>.skops and
# this file listing the seeds and the students re-fitted: a deterministic one is not), so that
# only evaluate reads them: a change of
# distill_students.seeds leaves models/students, and explain, untouched.
SEEDS_FILE = "seeds.json"


def save_students(folder: str | Path, students: Students) -> None:
    """One skops file per model plus the featuriser and a small JSON of how to read them."""
    with atomic_folder(folder) as tmp:
        save_featurizer(tmp, students.featurizer)
        for name, model in students.models.items():
            dump_skops(model, tmp / f"{name}.skops")
        meta = {"target": students.target, "temperature": students.temperature}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if (
            exportable(students.featurizer)
            and set(LINEAR_STUDENTS) <= set(students.models)
            and all(
                np.size(getattr(students.models[n], "intercept_", ())) == 1 for n in LINEAR_STUDENTS
            )
        ):  # the numpy export reads one logit per text: two classes
            export_linear(
                tmp,
                students.featurizer,
                students.models,
                VOCABULARY_FILE,
                students.target,
                students.temperature,
            )


def save_replicates(folder: str | Path, replicates: dict[int, dict[str, BaseEstimator]]) -> None:
    """The students re-fitted with further seeds: ``<seed>/<name>.skops`` and the seed list."""
    with atomic_folder(folder) as tmp:
        for seed, models in replicates.items():
            (tmp / str(seed)).mkdir()
            for name, model in models.items():
                dump_skops(model, tmp / str(seed) / f"{name}.skops")
        refitted = sorted({name for models in replicates.values() for name in models})
        listing = {"seeds": sorted(replicates), "students": refitted}
        (tmp / SEEDS_FILE).write_text(json.dumps(listing) + "\n")


def save_featurizer(folder: Path, featurizer: TfidfVectorizer) -> None:
    vocabulary = featurizer.vocabulary_
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    (folder / VOCABULARY_FILE).write_text(json.dumps(terms, ensure_ascii=False))
    without_vocabulary = copy.copy(featurizer)
    del without_vocabulary.vocabulary_
    # scikit-learn caches id(stop_words) here to skip a re-check; an id differs every run.
    without_vocabulary.__dict__.pop("_stop_words_id", None)
    dump_skops(without_vocabulary, folder / FEATURIZER_FILE)


def load_featurizer(folder: Path) -> TfidfVectorizer:
    featurizer = load_skops(folder / FEATURIZER_FILE)
    path = folder / VOCABULARY_FILE
    try:
        terms = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(
            f"{path} is missing or not JSON ({error}): re-run `dvc repro -f distill_students`"
        ) from None
    columns = len(featurizer.idf_)
    if (
        not isinstance(terms, list)
        or len(terms) != columns
        or len(set(terms)) != columns
        or not all(isinstance(term, str) for term in terms)
    ):
        raise UserError(
            f"{path} does not hold the {columns} distinct terms of {folder / FEATURIZER_FILE}: "
            f"re-run `dvc repro -f distill_students`"
        )
    featurizer.vocabulary_ = {term: column for column, term in enumerate(terms)}
    return featurizer


Folders = str | Path | Sequence[str | Path]


def _folder_list(folders: Folders) -> list[Path]:
    return [Path(folders)] if isinstance(folders, (str, Path)) else [Path(f) for f in folders]


def student_file(folders: Folders, name: str) -> Path:
    """The skops file of student ``name``: in the first of ``folders`` that holds it (the
    linear students and the trees are fitted by separate stages, into separate folders)."""
    folders = _folder_list(folders)
    for folder in folders:
        if (folder / f"{name}.skops").is_file():
            return folder / f"{name}.skops"
    raise UserError(
        f"no {name}.skops in {', '.join(map(str, folders))}: run `dvc repro` (distill_students, "
        f"distill_trees)"
    )


def load_students(
    folders: Folders, names: Sequence[str] | None = None, replicates: Folders | None = None
) -> Students:
    """The students ``names`` (all six by default) from the folders the student stages write,
    with their featuriser, and their re-fits under further seeds from the folders
    ``replicates`` when given. Students from several folders must share one featuriser and
    target (every stage fits the same one; a stale folder is refused)."""
    folders = _folder_list(folders)
    fitted = [folder for folder in folders if (folder / META_FILE).is_file()]
    if not fitted:
        raise UserError(
            f"{folders[0]} holds no trained students: run `dvc repro` "
            f"(distill_students, distill_trees)"
        )
    names = names or STUDENT_NAMES
    files = {name: student_file(fitted, name) for name in names}
    used = list(dict.fromkeys(path.parent for path in files.values()))
    metas = [json.loads((folder / META_FILE).read_text()) for folder in used]
    first = used[0]
    for folder, meta in zip(used[1:], metas[1:], strict=True):
        if meta != metas[0] or any(
            (folder / part).read_bytes() != (first / part).read_bytes()
            for part in (FEATURIZER_FILE, VOCABULARY_FILE)
        ):
            raise UserError(
                f"the students in {first} and {folder} were fitted with different featurisers "
                f"or targets: re-run `dvc repro` so both follow the same params"
            )
    models = {name: load_skops(path) for name, path in files.items()}
    replicate_models = {} if replicates is None else load_replicates(replicates, names)
    featurizer = load_featurizer(first)
    return Students(
        featurizer, models, metas[0]["target"], metas[0]["temperature"], replicate_models
    )


def load_replicates(folders: Folders, names: Sequence[str]) -> dict[int, dict[str, BaseEstimator]]:
    """seed -> name -> the student ``name`` re-fitted with that seed, from every folder of
    re-fits; a deterministic student has none."""
    merged: dict[int, dict[str, BaseEstimator]] = {}
    for folder in _folder_list(folders):
        seeds_file = folder / SEEDS_FILE
        try:
            listing = json.loads(seeds_file.read_text())
            seeds, refitted = listing["seeds"], set(listing["students"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(
                f"{seeds_file} is missing or unreadable ({error}): run `dvc repro distill_students`"
            ) from None
        for seed in seeds:
            merged.setdefault(seed, {}).update(
                {
                    name: load_skops(folder / str(seed) / f"{name}.skops")
                    for name in names
                    if name in refitted
                }
            )
    return merged
