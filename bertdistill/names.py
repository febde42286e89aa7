"""The students' names, importable without scikit-learn."""

KINDS = ("lr", "svm", "tree")
VARIANTS = ("baseline", "distilled")


def model_names() -> list[str]:
    return [f"{kind}_{variant}" for kind in KINDS for variant in VARIANTS]
