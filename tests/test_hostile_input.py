"""Hostile inputs on the way in: special files and links in folders, the output folder inside
the input, control characters, file names that are not UTF-8, byte codecs, escape codes."""

from __future__ import annotations

import io
import json
import os
import socket
import zipfile
from pathlib import Path

import pytest

from narrator.cli.progress import ProgressView
from narrator.errors import DocumentError, UsageError
from narrator.events import Notice
from narrator.reading.chapters import load_book
from narrator.reading.documents import (
    Source,
    check_encoding,
    find_sources,
    read_document,
)
from narrator.settings import ParseOptions
from tests.helpers import run_cli, time_limit

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and byte names")


def write(path: Path, data: bytes = b"# Title\n\nSome text to say.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def folder_run(folder: Path, exclude: Path | None = None) -> tuple[list[Source], list[str]]:
    warnings: list[str] = []
    return find_sources([folder], exclude=exclude, warnings=warnings), warnings


def names(sources: list[Source]) -> list[str]:
    return [source.relative.as_posix() for source in sources]


# --- special files and links in a folder -----------------------------------------------------


@posix_only
@time_limit(10)
def test_fifo_in_a_folder_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "a.md")
    os.mkfifo(tmp_path / "docs" / "pipe.md")
    sources, warnings = folder_run(tmp_path / "docs")
    assert names(sources) == ["a"]
    fifo = tmp_path / "docs" / "pipe.md"
    assert warnings == [f"{fifo}: skipped, not a regular file (a named pipe)"]


@posix_only
@time_limit(10)
def test_explicit_fifo_is_refused_at_once_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(DocumentError, match=r"pipe\.md: not a regular file \(a named pipe\)") as e:
        find_sources([fifo])
    assert e.value.exit_code == 2
    # Reading it directly (a file swapped for a FIFO after planning) must not block either.
    with pytest.raises(DocumentError, match="not a regular file"):
        load_book(fifo, ParseOptions())
    with pytest.raises(DocumentError, match="not a regular file"):
        read_document(fifo)


@posix_only
def test_explicit_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"not a regular file \(a character device\)"):
        find_sources([Path("/dev/null")])


@posix_only
def test_unix_socket_in_a_folder_is_skipped_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    write(folder / "a.md")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(folder / "s.md"))
    except OSError as exc:  # a path too long for AF_UNIX on this machine
        pytest.skip(f"cannot bind a unix socket here: {exc}")
    try:
        sources, warnings = folder_run(folder)
    finally:
        server.close()
    assert names(sources) == ["a"]
    assert warnings == [f"{folder / 's.md'}: skipped, not a regular file (a socket)"]


def test_link_to_a_file_outside_the_folder_is_skipped_and_never_read(tmp_path: Path) -> None:
    secret = write(tmp_path / "elsewhere" / "secret.md", b"# Secret\n\nThe code is swordfish.\n")
    docs = tmp_path / "docs"
    write(docs / "a.md")
    (docs / "notes.md").symlink_to(secret)
    sources, warnings = folder_run(docs)
    assert names(sources) == ["a"]
    assert warnings == [f"{docs / 'notes.md'}: skipped, a link to a file outside {docs}"]
    for source in sources:
        book = load_book(source.path, ParseOptions())
        assert all("swordfish" not in chapter.text for chapter in book.chapters)


def test_link_to_a_folder_outside_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "secret.md")
    docs = tmp_path / "docs"
    write(docs / "a.md")
    (docs / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    sources, warnings = folder_run(docs)
    assert names(sources) == ["a"]
    assert warnings == [f"{docs / 'more'}: skipped, a link to a folder outside {docs}"]


def test_link_to_a_document_inside_the_folder_lists_it_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "sub" / "b.md")
    (docs / "alias.md").symlink_to(docs / "sub" / "b.md")  # sorts before the file itself
    (docs / "inner").symlink_to(docs / "sub", target_is_directory=True)
    sources, warnings = folder_run(docs)
    assert [source.path for source in sources] == [docs / "sub" / "b.md"]
    assert warnings == []


def test_link_inside_the_folder_to_a_document_is_read(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "drafts" / ".b.md")  # hidden: listed only through the link
    (docs / "b.md").symlink_to(docs / "drafts" / ".b.md")
    sources, _ = folder_run(docs)
    assert [source.path for source in sources] == [docs / "b.md"]


@time_limit(10)
def test_a_folder_that_links_to_itself_does_not_loop(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.md")
    (docs / "again").symlink_to(docs, target_is_directory=True)
    (docs / "up").symlink_to(tmp_path, target_is_directory=True)
    (docs / "self.md").symlink_to(docs / "self.md")  # a link loop
    sources, warnings = folder_run(docs)
    assert names(sources) == ["a"]
    assert len(warnings) == 2  # "up" leads outside; "self.md" leads nowhere
    assert any("self.md: skipped, a link that leads nowhere" in w for w in warnings)


# --- the output folder inside the input folder ----------------------------------------------


def test_nothing_under_the_output_folder_is_a_document(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.md")
    write(docs / "out" / "b" / "stray.md")
    write(docs / "outside.md")
    sources, _ = folder_run(docs, exclude=docs / "out")
    assert names(sources) == ["a", "outside"]
    # The same folder named another way (relative, through a link) is still the output folder.
    (tmp_path / "link").symlink_to(docs, target_is_directory=True)
    sources, _ = folder_run(docs, exclude=tmp_path / "link" / "out" / ".." / "out")
    assert names(sources) == ["a", "outside"]


def test_output_folder_of_an_earlier_run_is_skipped(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "a.md")
    manifest = {"format": "narrator-manifest", "version": 1, "chapters": []}
    write(docs / "old-out" / "manifest.json", json.dumps(manifest, indent=2).encode())
    write(docs / "old-out" / "left.md")
    write(docs / "notes" / "manifest.json", b'{"format": "something else"}')
    write(docs / "notes" / "c.md")
    sources, _ = folder_run(docs)
    assert names(sources) == ["a", "notes/c"]


# --- control characters, binary data --------------------------------------------------------


def test_nul_and_escape_codes_in_a_heading_are_dropped_with_a_warning(tmp_path: Path) -> None:
    data = (
        "# Red \x1b[31mAlert\x00 \x1b]0;owned\x07Now\n\nText to say.\n\n"
        "# Two \u009b2J\n\nMore \x07text.\n"
    ).encode()
    book = load_book(write(tmp_path / "book.md", data), ParseOptions())
    assert [c.title for c in book.chapters] == ["Red Alert Now", "Two"]
    assert book.chapters[1].text == "Two.\nMore text."
    assert book.warnings == ("5 control character(s) or escape sequence(s) removed from the text",)
    spoken = "".join(c.title + c.text for c in book.chapters)
    assert all(ord(ch) >= 32 or ch == "\n" for ch in spoken)


def test_form_feeds_are_page_breaks_not_warnings(tmp_path: Path) -> None:
    data = b"CHAPTER I.\n\nIt was a dark night.\n\x0c\nCHAPTER II.\n\nAnd\x0cthen morning.\n"
    book = load_book(write(tmp_path / "book.txt", data), ParseOptions())
    assert [c.text for c in book.chapters] == [
        "CHAPTER One.\nIt was a dark night.",
        "CHAPTER Two.\nAnd then morning.",
    ]
    assert book.warnings == ()


def _zip_bytes(tmp_path: Path) -> bytes:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("chapter.md", "# Title\n\n" + "Words. " * 50)
    return (tmp_path / "a.zip").read_bytes()


@pytest.mark.parametrize("kind", ["png", "zip", "utf-16 without bom"])
def test_binary_files_are_still_refused(tmp_path: Path, kind: str) -> None:
    data = {
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        "zip": _zip_bytes(tmp_path),
        "utf-16 without bom": "# A title\n\nSome words to say here.\n".encode("utf-16-le"),
    }[kind]
    path = write(tmp_path / "doc.md", data)
    with pytest.raises(DocumentError, match="not a text file"):
        load_book(path, ParseOptions())


# --- file names that are not UTF-8 -----------------------------------------------------------


@posix_only
def test_a_file_name_that_is_not_utf8_gives_a_clean_title(tmp_path: Path) -> None:
    try:
        path = write(tmp_path / os.fsdecode(b"caf\xe9 cr\xe8me.md"), b"Just some text.\n")
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    book = load_book(path, ParseOptions())
    assert book.title == "caf\ufffd cr\ufffdme"
    assert json.dumps([book.title, *(c.title for c in book.chapters)], ensure_ascii=False).encode()
    assert [c.text for c in book.chapters] == ["caf\ufffd cr\ufffdme.\nJust some text."]
    sources, _ = folder_run(tmp_path)
    assert [s.path for s in sources] == [path]


# --- --encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["utf-8", "latin-1", "UTF-16", "cp1252"])
def test_text_encodings_are_accepted(name: str) -> None:
    assert check_encoding(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("klingon", "unknown encoding 'klingon'"),
        ("", "unknown encoding ''"),
        ("utf\x008", "unknown encoding 'utf\\x008'"),
        ("base64", "'base64' is not a text encoding"),
        ("rot13", "'rot13' is not a text encoding"),
        ("zip", "'zip' is not a text encoding"),
        ("hex", "'hex' is not a text encoding"),
        ("bz2", "'bz2' is not a text encoding"),
    ],
)
def test_unknown_and_byte_codecs_are_usage_errors(name: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_encoding(name)
    assert str(caught.value) == problem
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("name", ["base64", "rot13", "undefined", "idna"])
def test_a_document_decoded_with_an_odd_codec_is_a_document_error(
    tmp_path: Path, name: str
) -> None:
    path = write(tmp_path / "a.txt", b"\xffSome text\n")
    with pytest.raises(DocumentError, match=r"a\.txt: "):
        load_book(path, ParseOptions(encoding=name))


# --- escape codes on the terminal -------------------------------------------------------------


@posix_only
def test_dry_run_prints_no_escape_codes_from_titles_or_file_names(tmp_path: Path) -> None:
    doc = write(
        tmp_path / "evil\x1b[2J\u202e.md",
        "# Red \x1b[31mAlert\u202e\n\nSome text.\n\n# Two\n\nMore.\n".encode(),
    )
    result = run_cli(doc, "--dry-run", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    shown = result.output + result.stderr
    assert "Red Alert" in shown
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "evil\\x1b[2J" in shown


def test_progress_lines_show_escape_codes_as_text() -> None:
    stream = io.StringIO()
    view = ProgressView(quiet=False, verbose=False, stream=stream)
    view(Notice("skipped \x1b[2Jbook.md: \x9b31m", warning=True))
    assert "\x1b" not in stream.getvalue()
    assert "\x9b" not in stream.getvalue()
    assert "skipped \\x1b[2Jbook.md" in stream.getvalue()
