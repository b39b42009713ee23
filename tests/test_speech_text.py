"""What the narrator says: no Markdown, URLs, code, HTML or footnote markers ever get through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from narrator.reading.chapters import load_book
from narrator.reading.mdparse import markdown_parser
from narrator.reading.normalise import heading_numbers
from narrator.reading.speech_text import (
    MarkdownSpeech,
    finish_paragraph,
    remove_illustrations,
    speak_plain,
)
from narrator.settings import ParseOptions

CORPUS = [
    "500lines_crawler.markdown",
    "axios_README.md",
    "davidharlyrp_pg1661.txt",
    "mlschmitt_wind_in_the_willows.md",
    "opensource-guide_how-to-contribute.md",
    "rails_getting_started.md",
    "szmktk_pg11.txt",
    "szmktk_pg1342.txt",
    "vyjayanv_pg84.txt",
]
JUNK = re.compile(r"://|www\.|\*\*|__|##|\]\(|`|\||\[\^|</?[A-Za-z][^>]*>|\[Illustration")


def say(markdown: str, **options: object) -> str:
    speech = MarkdownSpeech(ParseOptions(**options))  # type: ignore[arg-type]
    speech.feed(markdown_parser().parse(markdown))
    return "\n".join(speech.paragraphs)


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize("alt_text", [False, True])
def test_corpus_speech_has_no_junk(corpus_dir: Path, name: str, alt_text: bool) -> None:
    book = load_book(corpus_dir / name, ParseOptions(image_alt_text=alt_text))
    for chapter in book.chapters:
        for paragraph in chapter.text.split("\n"):
            assert not JUNK.search(paragraph), (chapter.title, paragraph)
            assert paragraph == " ".join(paragraph.split())
            assert paragraph.rstrip("\"'”’»)]")[-1] in ".!?…", paragraph


def test_chapter_text_starts_with_its_heading(corpus_dir: Path) -> None:
    for name in CORPUS:
        for chapter in load_book(corpus_dir / name, ParseOptions()).chapters:
            first = chapter.text.split("\n", 1)[0]
            heading = heading_numbers(chapter.title.rstrip(".").replace("_", " "))
            assert first.rstrip(".") == heading.rstrip(".")


def test_link_text_is_kept_and_addresses_dropped() -> None:
    assert say("See [the guide](https://x.org/g) now.") == "See the guide now."
    assert say("Go to <https://x.org> or https://y.org/z today.") == "Go to or today."
    assert say("[https://x.org](https://x.org) alone") == "alone."


def test_images_give_alt_text_only_when_asked() -> None:
    assert say("Look: ![a red barn](b.png)") == "Look."
    assert say("Look: ![a red barn](b.png)", image_alt_text=True) == "Look: a red barn."


def test_code_is_left_out_but_plain_words_in_code_spans_stay() -> None:
    text = "Use `yield from` and `asyncio.run` not `f(x) + 1`.\n\n```\n# comment\n```\n"
    text += "\n    indented code\n"
    assert say(text) == "Use yield from and asyncio.run not."


def test_tables_read_as_sentences() -> None:
    text = "| Key | Value |\n| --- | --- |\n| a | one |\n| b |  |\n"
    assert say(text) == "Key: a, Value: one.\nKey: b."


def test_lists_read_as_sentences_one_item_each() -> None:
    assert say("- one\n- two!\n  - deep\n\n1. first\n") == "one.\ntwo!\ndeep.\nfirst."


def test_footnote_markers_and_definitions_are_not_read() -> None:
    text = "Claim[^1] here.\n\n[^1]: Source text.\n"
    assert say(text) == "Claim here."


def test_html_blocks_comments_and_wrappers_are_left_out() -> None:
    text = "<!-- note -->\n\n<div>\n\nInside wrapper.\n\n</div>\n\nOutside <kbd>Ctrl</kbd>.\n"
    assert say(text) == "Outside Ctrl."


def test_emphasis_and_symbols_are_stripped() -> None:
    assert say("**Bold** and _it_ and a > b | c # d") == "Bold and it and a b c d."


def test_paragraph_punctuation_is_completed() -> None:
    assert finish_paragraph("Heading") == "Heading."
    assert finish_paragraph("you will know:") == "you will know."
    assert finish_paragraph("“Quoted.”") == "“Quoted.”"
    assert finish_paragraph("Really?") == "Really?"
    assert finish_paragraph("🎉 ** |") is None


def test_plain_text_is_rewrapped_without_scene_breaks_or_captions() -> None:
    lines = ["One line", "wrapped _here_.", "", "*     *     *", ""]
    lines += ["[Illustration: A", "caption] After.", ""]
    assert speak_plain(lines) == ["One line wrapped here.", "After."]


def test_unclosed_illustration_loses_only_its_own_line() -> None:
    lines = ["[Illustration: never closed", "Real text."]
    assert remove_illustrations(lines) == ["", "Real text."]


def test_nested_brackets_in_a_caption_are_matched() -> None:
    lines = ["[Illustration: “Hi” [_Copyright 1894._]]", "Text [sic] stays."]
    assert remove_illustrations(lines) == ["", "Text [sic] stays."]
