import pandas as pd

from bertdistill.experiments import label_efficiency
from bertdistill.registry import MODEL_NAMES as MODELS


def run(name, train_size, accuracy, **extra):
    metrics = {f"{model}_accuracy": accuracy + index / 100 for index, model in enumerate(MODELS)}
    data = {
        "params": {"params.yaml": {"data": {"prepare": {"train_size": train_size}}}},
        "metrics": {"metrics/evaluate.json": {"data": metrics}},
    }
    return {"rev": name[:7], "name": name, "data": data, **extra}


def test_runs_are_collected_from_commits_and_their_experiments_by_train_size():
    output = [
        run("workspace", 2000, 0.80),
        run(
            "main",
            2000,
            0.80,
            experiments=[
                {"revs": [run("exp-small", 500, 0.70)]},
                {"revs": [run("exp-large", 5000, 0.85)]},
                {"revs": [{"rev": "failed", "name": "exp-failed", "data": {"params": {}}}]},
            ],
        ),
    ]
    table = label_efficiency(output)
    assert table["train_size"].tolist() == [500, 2000, 5000]
    assert table["experiment"].tolist() == ["exp-small", "main", "exp-large"]
    assert table.loc[0, "teacher"] == 0.70
    assert table.loc[2, "tree_distilled"] == 0.85 + 6 / 100


def test_nothing_finished_gives_an_empty_table_with_every_column():
    table = label_efficiency([{"rev": "workspace", "data": {"params": {}, "metrics": {}}}])
    assert table.empty
    assert list(table.columns) == ["train_size", "experiment", *MODELS]
    assert isinstance(table, pd.DataFrame)
