"""HTML pages read as books: the main text only, split at headings, decoded as declared."""

from __future__ import annotations

from pathlib import Path

from narrator.reading.chapters import load_book
from narrator.reading.documents import find_sources
from narrator.settings import ParseOptions

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Field Notes</title>
<meta name="author" content="Ann Author"><script>track()</script></head>
<body>
<header><a href="/">Home</a> Site banner</header>
<nav><a href="/a">Archive</a></nav>
<main>
  <h1>Field Notes</h1>
  <p>An opening word.</p>
  <h2>Birds</h2>
  <p>Seen <a href="https://birds.example/x">at dawn</a><sup><a href="#f1">1</a></sup>.</p>
  <h3>Gulls</h3><p>Loud ones.</p>
  <h2>Trees</h2><p>Tall ones.</p>
  <aside>Buy our book!</aside>
  <form><label>Email</label><input name="e"><button>Subscribe</button></form>
</main>
<footer>Copyright 2024</footer>
</body></html>"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_main_text_is_split_at_headings(tmp_path: Path) -> None:
    book = load_book(write(tmp_path / "notes.html", PAGE), ParseOptions())
    assert (book.title, book.author, book.language) == ("Field Notes", "Ann Author", "en")
    assert [(c.index, c.title) for c in book.chapters] == [
        (1, "Field Notes"),
        (2, "Birds"),
        (3, "Trees"),
    ]
    assert book.chapters[0].text == "Field Notes.\nAn opening word."
    assert book.chapters[1].text == "Birds.\nSeen at dawn.\nGulls.\nLoud ones."
    everything = "\n".join(c.text for c in book.chapters)
    for junk in ("banner", "Archive", "Buy our book", "Subscribe", "Email", "Copyright", "track"):
        assert junk not in everything


def test_two_h1_make_each_a_chapter_and_heading_level_overrides(tmp_path: Path) -> None:
    page = "<body><h1>One</h1><p>a.</p><h2>Sub</h2><p>b.</p><h1>Two</h1><p>c.</p></body>"
    path = write(tmp_path / "two.htm", page)
    assert [c.title for c in load_book(path, ParseOptions()).chapters] == ["One", "Two"]
    split = load_book(path, ParseOptions(heading_level=2)).chapters
    assert [c.title for c in split] == ["One", "Sub", "Two"]


def test_article_without_main_and_title_from_h1(tmp_path: Path) -> None:
    page = (
        "<body><header>Menu</header><article><header><h1>Essay</h1></header>"
        "<p>Body text.</p><footer>By me</footer></article><footer>Site</footer></body>"
    )
    book = load_book(write(tmp_path / "essay.xhtml", page), ParseOptions())
    assert book.title == "Essay"
    assert [c.text for c in book.chapters] == ["Essay.\nBody text.\nBy me."]


def test_charset_from_meta(tmp_path: Path) -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café crème.</p></body></html>'
    book = load_book(write(tmp_path / "latin.html", page, "latin-1"), ParseOptions())
    assert book.chapters[0].text.endswith("Café crème.")
    page = (
        '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
        "<p>日本語の文章.</p>"
    )
    book = load_book(write(tmp_path / "jp.html", page, "shift_jis"), ParseOptions())
    assert book.chapters[0].text.endswith("日本語の文章.")


def test_utf8_without_a_declaration(tmp_path: Path) -> None:
    book = load_book(write(tmp_path / "plain.html", "<p>Naïve façade.</p>"), ParseOptions())
    assert book.chapters[0].text.endswith("Naïve façade.")


def test_folder_runs_find_epub_and_html(tmp_path: Path) -> None:
    for name in ("a.epub", "b.html", "c.htm", "d.xhtml", "e.pdf"):
        (tmp_path / name).write_bytes(b"x")
    found = [source.path.name for source in find_sources([tmp_path])]
    assert found == ["a.epub", "b.html", "c.htm", "d.xhtml"]
