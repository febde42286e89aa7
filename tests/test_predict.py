"""What `predict` reads: arguments, a file or stdin, one text per line, streamed; empty, binary
and non-UTF-8 input is one line naming where, never garbage classified."""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc

import pytest
from support import ROOT

from bertdistill.core.errors import UserError
from bertdistill.predict import BATCH_SIZE, batches, read_texts

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
LATIN1 = "A great film.\nUn film très réussi.\n".encode("latin-1")


def from_stdin(monkeypatch, data: bytes, pair_task: bool = False) -> list:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return list(read_texts([], None, pair_task=pair_task))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no text to classify"),
        (b"\n  \r\n\t\n", "no text to classify"),
        (PNG, "is not UTF-8 text: byte 0x89 at offset 0: convert it"),
        (LATIN1, "is not UTF-8 text: byte 0xe8 at offset 24: convert it"),
        (b"a film\n" + b"\x00" * 8, "holds a NUL byte at offset 7: it is binary, not text"),
    ],
    ids=["empty", "blank", "png", "latin1", "nul"],
)
def test_a_file_or_stdin_of_no_text_or_of_bytes_that_are_not_text_is_one_line(
    tmp_path, monkeypatch, data, message
):
    path = tmp_path / "reviews.txt"
    path.write_bytes(data)
    with pytest.raises(UserError, match=message) as from_file:
        read_texts([], str(path))
    with pytest.raises(UserError, match=message) as piped:
        from_stdin(monkeypatch, data)
    if "no text" not in message:
        assert str(from_file.value).startswith(f"{path} ")
        assert str(piped.value).startswith("stdin ")
    assert "\n" not in str(from_file.value) + str(piped.value)


def test_a_bad_line_in_a_file_is_found_before_any_text_is_given(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"a good film\n" * 1000 + "très\n".encode("latin-1"))
    with pytest.raises(UserError, match="byte 0xe8 at offset 12002"):
        read_texts([], str(path))  # raised by the call itself, not by the 1001st text


def test_lines_lose_their_bom_and_crlf_and_keep_unicode_separators(tmp_path, monkeypatch):
    data = "\ufeffgreat film\r\nawful\u2028film\r\n\r\nDéjà vu\n".encode()
    expected = ["great film", "awful\u2028film", "Déjà vu"]
    (tmp_path / "reviews.txt").write_bytes(data)
    assert list(read_texts([], str(tmp_path / "reviews.txt"))) == expected
    assert from_stdin(monkeypatch, data) == expected


def test_a_missing_file_or_a_folder_is_one_line(tmp_path):
    with pytest.raises(UserError, match=f"^cannot read {tmp_path / 'nope.txt'}: No such file"):
        read_texts([], str(tmp_path / "nope.txt"))
    with pytest.raises(UserError, match=f"^{tmp_path} is a folder: pass a text file"):
        read_texts([], str(tmp_path))


def test_pairs_and_texts_must_match_the_task(monkeypatch):
    with pytest.raises(UserError, match="^--pair classifies sentence pairs, but this model reads"):
        read_texts([], None, [["", ""]], pair_task=False)
    with pytest.raises(UserError, match="^this model reads sentence pairs"):
        read_texts(["a text"], None, pair_task=True)
    assert list(read_texts([], None, [["", ""]], pair_task=True)) == [("", "")]
    assert from_stdin(monkeypatch, b"A man.\tA man sleeps.\n", pair_task=True) == [
        ("A man.", "A man sleeps.")
    ]
    with pytest.raises(UserError, match="^stdin line 2 has no tab"):
        from_stdin(monkeypatch, b"A man.\tA man sleeps.\nno tab\n", pair_task=True)


def test_an_argument_that_is_not_utf8_is_one_line():
    undecodable = b"tr\xe8s bien".decode("utf-8", "surrogateescape")  # as Python reads argv
    with pytest.raises(UserError, match="^text argument 2 is not UTF-8"):
        read_texts(["fine", undecodable], None)


def test_a_long_file_streams_in_batches_in_bounded_memory(tmp_path):
    line = "a great film with a dull plot " * 10 + "\n"  # 301 bytes
    path = tmp_path / "reviews.txt"
    path.write_text(line * 20_000)  # 6 MB
    texts = read_texts([], str(path))
    tracemalloc.start()
    sizes = [len(batch) for batch in batches(texts)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sizes == [BATCH_SIZE] * (20_000 // BATCH_SIZE) + [20_000 % BATCH_SIZE]
    assert peak < 2_000_000  # a few batches, never the 6 MB file (a list of it: ~8 MB)


def test_a_text_of_a_million_characters_is_one_text(tmp_path):
    text = ("great " * 200_000)[:1_000_000]
    (tmp_path / "long.txt").write_text(text + "\n")
    assert list(read_texts([], str(tmp_path / "long.txt"))) == [text]


def test_predict_refuses_a_binary_file_with_one_line_and_exit_2(tmp_path):
    """The command line itself, before any model is loaded."""
    (tmp_path / "image.png").write_bytes(PNG)
    result = subprocess.run(
        [sys.executable, "-m", "bertdistill.predict", "--file", str(tmp_path / "image.png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr == f"error: {tmp_path / 'image.png'} is not UTF-8 text: byte 0x89 at "
        "offset 0: convert it (e.g. `iconv -f latin1 -t utf-8`) or pass a UTF-8 text file\n"
    )
