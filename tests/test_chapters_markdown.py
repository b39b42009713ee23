"""Markdown splitting on the real corpus documents and on small inline cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator.errors import DocumentError
from narrator.reading.chapters import load_book, split_markdown
from narrator.settings import ParseOptions
from tests.conftest import CorpusBook


def test_crawler_has_eleven_sections_and_metadata_from_leading_lines(
    corpus_book: CorpusBook,
) -> None:
    book = corpus_book("500lines_crawler.markdown")
    assert book.title == "A Web Crawler With asyncio Coroutines"
    assert book.author == "A. Jesse Jiryu Davis and Guido van Rossum"
    assert [c.title for c in book.chapters] == [
        "Introduction",
        "The Task",
        "The Traditional Approach",
        "Async",
        "Programming With Callbacks",
        "Coroutines",
        "How Python Generators Work",
        "Building Coroutines With Generators",
        "Factoring Coroutines With yield from",
        "Coordinating Coroutines",
        "Conclusion",
    ]
    assert book.warnings == ()


def test_crawler_leaves_out_code_figures_bios_and_footnotes(corpus_book: CorpusBook) -> None:
    text = "\n".join(c.text for c in corpus_book("500lines_crawler.markdown").chapters)
    for junk in (
        "def fetch(url)",
        "Begin fetching",
        "f is a Future",
        "aosafigure",
        "crawler-images",
    ):
        assert junk not in text
    assert "Guido van Rossum is the creator" not in text  # bio inside the <markdown> wrapper
    assert "title: A Web Crawler" not in text
    assert "Classical computer science emphasizes efficient algorithms" in text


def test_wind_in_the_willows_metadata_headings_are_not_chapters(corpus_book: CorpusBook) -> None:
    book = corpus_book("mlschmitt_wind_in_the_willows.md")
    assert (book.title, book.author) == ("The Wind in the Willows", "Kenneth Grahame")
    titles = [c.title for c in book.chapters]
    assert len(titles) == 12
    assert titles[0] == "I. THE RIVER BANK"
    assert titles[10] == "XI. 'LIKE SUMMER TEMPESTS CAME HIS TEARS'"
    assert titles[-1] == "XII. THE RETURN OF ULYSSES"
    assert book.chapters[0].text.startswith(
        "ONE. THE RIVER BANK.\nThe Mole had been working very hard all the morning"
    )
    assert all("\r" not in c.text for c in book.chapters)


def test_rails_setext_guide_has_an_intro_and_23_sections(corpus_book: CorpusBook) -> None:
    book = corpus_book("rails_getting_started.md")
    titles = [c.title for c in book.chapters]
    assert book.title == "Getting Started with Rails"
    # The text between the `===` title and the first `---` section is a chapter of its own.
    assert len(titles) == 24
    assert titles[:3] == ["Getting Started with Rails", "Introduction", "Rails Philosophy"]
    assert titles[-1] == "What's Next?"
    intro = book.chapters[0].text
    assert intro.startswith("Getting Started with Rails.\n")
    assert "This guide covers getting up and running with Ruby on Rails." in intro
    text = "\n".join(c.text for c in book.chapters)
    assert "rails generate model" not in text
    assert "$ rails new store" not in text
    assert "TIP: Any commands prefaced with a dollar sign" in text


def test_axios_readme_skips_html_header_and_the_table_of_contents(corpus_book: CorpusBook) -> None:
    book = corpus_book("axios_README.md")
    titles = [c.title for c in book.chapters]
    # 28 `##` sections, but "Table of Contents" is only links to anchors: nothing to say.
    assert len(titles) == 27
    assert "Table of Contents" not in titles
    assert titles[0] == "Features"
    assert titles[-1] == "License"
    assert "Using multipart/form-data format" in titles
    assert "🆕 Progress capturing" in titles
    assert book.warnings == (
        "heading 'Table of Contents' (line 48) has nothing to narrate; skipped",
    )
    text = "\n".join(c.text for c in book.chapters)
    for junk in ("sponsor", "instagram", "npm version", "axios.get('/user?ID=12345')"):
        assert junk not in text.lower()


def test_axios_badges_stay_silent_even_with_alt_text(corpus_book: CorpusBook) -> None:
    book = corpus_book("axios_README.md", image_alt_text=True)
    assert len(book.chapters) == 27
    assert "npm version" not in "\n".join(c.text for c in book.chapters)


def test_open_source_guide_takes_its_title_from_front_matter(corpus_book: CorpusBook) -> None:
    book = corpus_book("opensource-guide_how-to-contribute.md")
    assert book.title == "How to Contribute to Open Source"
    titles = [c.title for c in book.chapters]
    assert titles == [
        "Why contribute to open source?",
        "What it means to contribute",
        "Orienting yourself to a new project",
        "Finding a project to contribute to",
        "How to submit a contribution",
        "What happens after you submit your contribution",
        "You did it! 🎉",
    ]
    text = "\n".join(c.text for c in book.chapters)
    assert "Working on freenode helped me" not in text  # <aside> pull quote
    assert "description:" not in text and "lang: en" not in text


def test_source_hash_is_of_the_raw_bytes(corpus_dir: Path) -> None:
    import hashlib

    path = corpus_dir / "mlschmitt_wind_in_the_willows.md"
    book = load_book(path, ParseOptions())
    assert book.source == path
    assert book.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("text", ["", "   \n\n\t\n"])
def test_empty_document_is_refused(text: str) -> None:
    with pytest.raises(DocumentError, match="empty document"):
        split_markdown(text, "empty.md", ParseOptions())


def test_document_of_only_code_and_html_has_nothing_to_narrate() -> None:
    text = "<div>logo</div>\n\n```\ncode\n```\n\n![img](x.png)\n"
    with pytest.raises(DocumentError, match="nothing to narrate"):
        split_markdown(text, "quiet.md", ParseOptions())


def test_hash_inside_a_fence_never_starts_a_chapter() -> None:
    text = "# One\n\ntext\n\n```\n# two\n```\n\n~~~\n# three\n~~~\n"
    book = split_markdown(text, "f.md", ParseOptions())
    assert [c.title for c in book.chapters] == ["One"]
    assert book.chapters[0].text == "One.\ntext."


def test_headings_below_the_split_level_are_spoken_inside_the_chapter() -> None:
    text = "# A\n\nx\n\n## Sub\n\ny\n\n# B\n\nz\n"
    book = split_markdown(text, "doc.md", ParseOptions())
    assert [c.text for c in book.chapters] == ["A.\nx.\nSub.\ny.", "B.\nz."]


def test_heading_level_override_splits_deeper() -> None:
    text = "# A\n\n## One\n\nx\n\n## Two\n\ny\n\n# B\n\nz\n"
    book = split_markdown(text, "doc.md", ParseOptions(heading_level=2))
    assert [c.title for c in book.chapters] == ["One", "Two", "B"]


def test_single_heading_document_is_one_chapter_titled_by_it() -> None:
    book = split_markdown("# Only\n\nBody.\n", "x.md", ParseOptions())
    assert book.title == "Only"
    assert [(c.index, c.title, c.text) for c in book.chapters] == [(1, "Only", "Only.\nBody.")]


def test_heading_title_drops_badges_and_keeps_code_and_emoji() -> None:
    text = "## 🚀 Use `x.y()` [![b](https://b.svg)](https://c)  *now*  \n\nBody\n\n## Two\n\nMore\n"
    book = split_markdown(text, "x.md", ParseOptions())
    assert book.chapters[0].title == "🚀 Use x.y() now"
