"""Student files in skops format: byte-reproducible dumps, and loading that refuses any type
outside an allow-list (never a pickle)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sklearn.base import BaseEstimator

from bertdistill.core.errors import UserError


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
