"""Finding documents and decoding them, on real files in a temporary folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from narrator.errors import DocumentError
from narrator.reading.documents import Source, decode_text, find_sources, read_document


def write(path: Path, data: bytes = b"# Title\n\nText.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def decoded(path: Path, encoding: str | None = None) -> str:
    return decode_text(read_document(path), path, encoding, [])


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", b"\xef\xbb\xbfHello\n")
    assert decoded(path) == "Hello\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_detected(tmp_path: Path, codec: str) -> None:
    path = write(tmp_path / "a.txt", "\ufeffCafé\r\nnaïve\n".encode(codec))
    assert decoded(path) == "Café\nnaïve\n"


def test_crlf_and_cr_become_lf(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"one\r\ntwo\rthree\n")
    assert decoded(path) == "one\ntwo\nthree\n"


def test_explicit_encoding_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "Café crème".encode("latin-1"))
    assert decoded(path, "latin-1") == "Café crème"


def test_latin1_without_encoding_asks_for_one(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "Café crème".encode("latin-1"))
    with pytest.raises(DocumentError, match="cannot be decoded as UTF-8; try --encoding"):
        decoded(path)


def test_unknown_encoding_is_a_document_error(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"text")
    with pytest.raises(DocumentError, match="unknown encoding 'klingon'"):
        decoded(path, "klingon")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DocumentError, match="not a text file"):
        decoded(path)


def test_document_error_exits_with_two(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        find_sources([tmp_path / "missing.md"])
    assert caught.value.exit_code == 2
    assert "no such file or folder" in str(caught.value)


def test_explicit_file_with_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "book.pdf")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.pdf'"):
        find_sources([path])


def test_folder_without_documents_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "notes.pdf")
    with pytest.raises(DocumentError, match="no documents"):
        find_sources([tmp_path / "docs"])


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DocumentError, match="no documents"):
        find_sources([tmp_path / "empty"])


def test_folder_is_walked_recursively_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for name in ["b.md", "a/z.txt", "a/b/c.markdown", "B.md", "a.md", "skip.pdf"]:
        write(root / name)
    found = find_sources([root])
    assert [source.relative for source in found] == [
        PurePosixPath(p) for p in ["B", "a", "a/b/c", "a/z", "b"]
    ]
    assert all(source.from_folder for source in found)


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    write(root / "book.md")
    write(root / ".draft.md")
    write(root / ".git" / "notes.md")
    assert [s.relative for s in find_sources([root])] == [PurePosixPath("book")]


def test_explicit_files_keep_argument_order_and_lose_duplicates(tmp_path: Path) -> None:
    second = write(tmp_path / "z.md")
    first = write(tmp_path / "sub" / "a.txt")
    found = find_sources([second, first, second, tmp_path / "sub"])
    assert found == [
        Source(second, PurePosixPath("z"), from_folder=False),
        Source(first, PurePosixPath("a"), from_folder=False),
    ]


def test_suffix_check_ignores_case(tmp_path: Path) -> None:
    path = write(tmp_path / "README.MD")
    assert find_sources([path])[0].relative == PurePosixPath("README")
