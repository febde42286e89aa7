"""A stage's input tables: a missing, empty, foreign or folder path is one line naming it."""

from __future__ import annotations

import pandas as pd
import pytest

from bertdistill.core.errors import UserError
from bertdistill.core.stage import read_frame

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is not a parquet table \(Parquet file size is 0 bytes\)"),
        (b"id,text,label\n1,a film,0\n", r"is not a parquet table \(Parquet magic bytes"),
        (PNG, r"is not a parquet table \(Parquet magic bytes"),
        (None, r"not found: run the stage that writes it"),
    ],
    ids=["empty", "csv", "png", "missing"],
)
def test_a_table_that_is_not_parquet_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "train.parquet"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=f"^{path} {message}") as error:
        read_frame(path)
    assert "\n" not in str(error.value)


def test_a_folder_or_a_table_without_a_column_is_one_line(tmp_path):
    with pytest.raises(UserError, match=f"^{tmp_path} is a folder, not a parquet table"):
        read_frame(tmp_path)
    path = tmp_path / "train.parquet"
    pd.DataFrame({"id": ["a"], "text": ["a film"]}).to_parquet(path)
    with pytest.raises(UserError, match="has no 'label' column"):
        read_frame(path)
    assert read_frame(path, columns=("id", "text"))["text"].tolist() == ["a film"]
