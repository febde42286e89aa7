"""Students on disk: skops files (an allow-list of types, byte-reproducible dumps), the
featuriser's vocabulary as JSON, the numpy export of the linear students, and loading them all."""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_path
from bertdistill.core.registry import LINEAR_STUDENTS, STUDENT_NAMES
from bertdistill.students.models import Students
from bertdistill.students.numpy_linear import export_linear, exportable


@contextlib.contextmanager
def _torch_hidden() -> Iterator[None]:
    """skops 0.16 lists scikit-learn's estimators when imported (``skops/io/_trusted_types.py``
    calls ``sklearn.utils.all_estimators()``), and that walk imports scikit-learn's array-API shim
    for torch, so torch itself (seconds, hundreds of MB) when installed. Nothing here needs it:
    hidden during that import, the student stages (evaluate) run without torch. Later imports of
    torch are unaffected (a test checks scikit-learn still recognises torch tensors)."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # `import torch` raises ImportError; the walk skips the shim
    try:
        yield
    finally:
        del sys.modules["torch"]


with _torch_hidden():
    import skops.io as sio

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
# Every type a student file may contain; anything else in a .skops file is refused on load.
TRUSTED_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.str",
        "builtins.tuple",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.multioutput.MultiOutputRegressor",
        "sklearn.svm._classes.LinearSVC",
        "sklearn.svm._classes.LinearSVR",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
    }
)


def save_students(folder: str | Path, students: Students) -> None:
    """One skops file per model plus the featuriser and a small JSON of how to read them."""
    with atomic_path(folder) as tmp:
        tmp.mkdir()
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
    with atomic_path(folder) as tmp:
        tmp.mkdir()
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


def dump_skops(model: object, path: Path) -> None:
    """``skops.io.dump``, made byte-reproducible: skops names objects and array files by their
    ``id()`` in this process and dates zip entries with the current time, so the same model would
    get a new file hash every run. Ids are renumbered in order of appearance and entries dated
    1980-01-01; what the file loads as is unchanged. A plain value (a JSON node: a number, a
    string, None) gets a number of its own each time it appears, since whether two equal values
    are one object depends on how the model was made (fitted here, or in a worker process and
    sent back), never on what it is."""
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    numbers = itertools.count()
    renumbered: dict[int, int] = {}

    def number(old: int) -> int:
        if old not in renumbered:
            renumbered[old] = next(numbers)
        return renumbered[old]

    def renumber(node: object) -> object:
        if isinstance(node, dict):
            node = {key: renumber(value) for key, value in node.items()}
            if "__id__" in node:
                plain = node.get("__loader__") == "JsonNode"
                node["__id__"] = next(numbers) if plain else number(node["__id__"])
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                node["file"] = _renamed(node["file"], number)
            return node
        if isinstance(node, list):
            return [renumber(value) for value in node]
        return node

    schema = renumber(json.loads(archive.read("schema.json")))
    entries = {"schema.json": json.dumps(schema, indent=2).encode()}
    for name in archive.namelist():
        if name != "schema.json":
            entries[_renamed(name, number)] = archive.read(name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in sorted(entries):
            stamped = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            stamped.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(stamped, entries[name])


def _renamed(file_name: str, number: Callable[[int], int]) -> str:
    """``<id>.npy`` under the id's new number (ids skops used only for a file get one too)."""
    return f"a{number(int(file_name.removesuffix('.npy')))}.npy"


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


def load_skops(path: str | Path) -> BaseEstimator:
    """Load a skops file whose every type is in :data:`TRUSTED_TYPES`; refuse pickles and the rest.

    skops itself trusts all of scikit-learn and NumPy's functions by default; this project only
    ever writes the few types above, so any other type in a file means it was swapped.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run `dvc repro distill_students`")
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UserError(
            f"{path} is not a skops file ({error}); refusing to load it. Pickles are never "
            f"loaded: re-run `dvc repro -f distill_students`"
        ) from None
    found = _schema_types(schema)
    unexpected = sorted(found - TRUSTED_TYPES)
    if unexpected:
        raise UserError(
            f"{path} contains types outside this project's allow-list ({', '.join(unexpected)}); "
            f"refusing to load it. Re-run `dvc repro -f distill_students`"
        )
    return sio.load(path, trusted=sorted(found))


def _schema_types(node: object) -> set[str]:
    """Every ``module.class`` named anywhere in a skops schema."""
    found = set()
    if isinstance(node, dict):
        if "__class__" in node and "__module__" in node:
            found.add(f"{node['__module__']}.{node['__class__']}")
        for value in node.values():
            found |= _schema_types(value)
    elif isinstance(node, list):
        for value in node:
            found |= _schema_types(value)
    return found


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
