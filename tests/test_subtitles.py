"""Subtitle cues from word timings, and the SRT and WebVTT files they become."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from narrator.errors import UsageError
from narrator.output.subtitles import (
    SUBTITLE_FORMATS,
    Cue,
    make_cues,
    render,
    to_srt,
    to_vtt,
)
from narrator.output.timings import Word, words_of
from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions

EXAMPLE_BOOK = Path(__file__).resolve().parents[1] / "examples" / "book.md"

PROSE = (
    "The lamp was lit at six. Mara climbed the one hundred and twelve steps with a can of oil "
    "in one hand and a notebook in the other, as her grandfather had done before her. She "
    "wrote the time, the wind and the state of the sea; then she sat by the window — the old "
    "chair creaking under her — and watched the beam sweep the water, once every ten seconds, "
    "the way it had for a hundred years. “Who keeps the keeper?” she asked the dark. Nobody "
    "answered. Yes. No. The surveyor who came on the Sunday boat with letters and bread and a "
    "folding brass theodolite wanted to measure the tower from the rocks below before the "
    "tide came back in over the causeway that afternoon. He spoke of "
    "pneumonoultramicroscopicsilicovolcanoconiosisandmore as if it were weather… and then he "
    'laughed. She said, "Go home." It is quiet. It is never finished. It matters most when '
    "nobody is watching!"
)

CLOSERS = "\"'”’»)]"
SENTENCE_MARKS = (".", "!", "?", "…")


def timed(text: str, start: float = 0.0) -> list[Word]:
    """Words of ``text`` as a steady narrator says them: 60 ms a character, 300 ms more after
    a sentence and 150 ms more after a comma, semicolon or colon."""
    voiced: list[tuple[int, float, float]] = []
    clock = start
    for offset, char in enumerate(text):
        if char.isspace():
            before = text[:offset].rstrip(CLOSERS)[-1:]
            clock += 0.3 if before in "".join(SENTENCE_MARKS) else 0.15 if before in ",;:" else 0
        else:
            voiced.append((offset, clock, clock + 0.06))
        clock += 0.06
    return words_of(text, voiced)


def steady(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    """Words of ``text`` ``step`` seconds apart, each lasting most of its step."""
    return [
        Word(t, start + k * step, start + k * step + step * 0.8, 0, len(t))
        for k, t in enumerate(text.split())
    ]


def book_chapters() -> list[str]:
    return [chapter.text for chapter in load_book(EXAMPLE_BOOK, ParseOptions()).chapters]


def sentences(words: Sequence[Word]) -> list[range]:
    """Word ranges of sentences: ended by . ! ? … (closing quotes allowed), unless the next
    word starts in lowercase ("Stop!" she said)."""
    found: list[range] = []
    first = 0
    for k, word in enumerate(words):
        ends = word.text.rstrip(CLOSERS).endswith(SENTENCE_MARKS)
        following = words[k + 1].text.lstrip("\"'“‘«(") if k + 1 < len(words) else ""
        if k == len(words) - 1 or (ends and not following[:1].islower()):
            found.append(range(first, k + 1))
            first = k + 1
    return found


def fits_one_cue(words: Sequence[Word]) -> bool:
    if words[-1].end - words[0].start > 7.0:
        return False
    lines, width = 1, -1
    for word in words:
        if width >= 0 and width + 1 + len(word.text) > 42:
            lines, width = lines + 1, len(word.text)
        else:
            width += 1 + len(word.text)
    return lines <= 2


def cue_words(words: Sequence[Word], cues: Sequence[Cue]) -> list[range]:
    """Which words each cue shows, checking that every word is shown once, in order."""
    ranges: list[range] = []
    position = 0
    for cue in cues:
        shown = " ".join(cue.lines).split(" ")
        ranges.append(range(position, position + len(shown)))
        assert shown == [w.text for w in words[position : position + len(shown)]], cue
        position += len(shown)
    assert position == len(words)
    return ranges


def check_cues(words: Sequence[Word], cues: Sequence[Cue]) -> None:
    """Everything the module promises of any cue list."""
    ranges = cue_words(words, cues)
    for k, (cue, shown) in enumerate(zip(cues, ranges, strict=True)):
        assert 1 <= len(cue.lines) <= 2, cue
        for line in cue.lines:
            assert line and (len(line) <= 42 or " " not in line), cue
        following = cues[k + 1].start if k + 1 < len(cues) else float("inf")
        spoken = words[shown[-1]]
        assert cue.start == words[shown[0]].start
        assert cue.end == spoken.end or cue.end == pytest.approx(min(cue.start + 1.0, following))
        assert cue.end >= spoken.end
        assert cue.end - cue.start <= 7.0 or len(shown) == 1
        assert cue.start < cue.end <= following
        if len(cue.lines) == 2 and len(sentences(words[shown.start : shown.stop])) == 1:
            longest = max(len(words[i].text) for i in shown)
            assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 42 // 3 + longest, cue
    found = sentences(words)
    sentence_of = {i: sentence for sentence in found for i in sentence}
    fitting = {
        sentence[0]: fits_one_cue(words[sentence.start : sentence.stop]) for sentence in found
    }
    for shown in ranges:
        first, last = sentence_of[shown[0]], sentence_of[shown[-1]]
        if first == last:  # a cue within one sentence is all of it, unless it cannot fit
            assert shown == first or not fitting[first[0]], cue_text(words, first)
        else:  # or whole sentences that each fit, sharing a cue
            assert shown[0] == first[0] and shown[-1] == last[-1], cue_text(words, shown)
            assert all(fitting[sentence_of[i][0]] for i in shown)


def cue_text(words: Sequence[Word], shown: range) -> str:
    return " ".join(words[i].text for i in shown)


TIME = r"(\d{{2,}}):([0-5]\d):([0-5]\d)[{sep}](\d{{3}})"


def seconds(match: Sequence[str]) -> float:
    hours, minutes, secs, ms = (int(part) for part in match)
    return hours * 3600 + minutes * 60 + secs + ms / 1000


def parse(text: str, *, vtt: bool) -> list[Cue]:
    """Cues read back from SRT or WebVTT text, checking its framing on the way."""
    if vtt:
        assert text.startswith("WEBVTT\n\n")
        text = text[len("WEBVTT\n\n") :]
    if not text:
        return []
    assert text.endswith("\n") and not text.endswith("\n\n")
    stamp = TIME.format(sep="." if vtt else ",")
    cues: list[Cue] = []
    for number, block in enumerate(text[:-1].split("\n\n"), start=1):
        lines = block.split("\n")
        if not vtt:
            assert lines.pop(0) == str(number)
        timing = re.fullmatch(f"{stamp} --> {stamp}", lines[0])
        assert timing, lines[0]
        assert lines[1:] and all(lines[1:]), block
        if vtt:
            assert not re.search(r"<|>|&(?!amp;|lt;|gt;)", block[len(lines[0]) :])
            lines = [line.replace("&lt;", "<").replace("&gt;", ">") for line in lines]
            lines = [line.replace("&amp;", "&") for line in lines]
        groups = timing.groups()
        cues.append(Cue(seconds(groups[:4]), seconds(groups[4:]), tuple(lines[1:])))
    return cues


def assert_same(parsed: Sequence[Cue], cues: Sequence[Cue]) -> None:
    assert len(parsed) == len(cues)
    for got, cue in zip(parsed, cues, strict=True):
        assert got.lines == cue.lines
        assert abs(got.start - cue.start) <= 0.001 and abs(got.end - cue.end) <= 0.001


def test_cues_of_prose_keep_every_rule() -> None:
    words = timed(PROSE)
    check_cues(words, make_cues(words))


@pytest.mark.parametrize("index", range(len(book_chapters())))
def test_cues_of_the_example_book_keep_every_rule(index: int) -> None:
    words = timed(book_chapters()[index])
    cues = make_cues(words)
    check_cues(words, cues)
    assert_same(parse(to_srt(cues), vtt=False), cues)
    assert_same(parse(to_vtt(cues), vtt=True), cues)


def test_srt_and_vtt_read_back_as_the_same_cues() -> None:
    cues = make_cues(timed(PROSE, start=3599.5))
    assert cues[-1].end > 3600
    assert_same(parse(to_srt(cues), vtt=False), cues)
    assert_same(parse(to_vtt(cues), vtt=True), cues)
    assert render("srt", cues) == to_srt(cues) and render("vtt", cues) == to_vtt(cues)
    assert SUBTITLE_FORMATS == ("srt", "vtt")


def test_a_sentence_that_fits_is_one_cue_and_ends_it() -> None:
    words = timed("The lamp was lit at six. The sea was calm that night, and the wind was low.")
    cues = make_cues(words)
    assert [" ".join(c.lines) for c in cues] == [
        "The lamp was lit at six.",
        "The sea was calm that night, and the wind was low.",
    ]
    assert cues[1].lines == ("The sea was calm that night,", "and the wind was low.")


def test_short_sentences_share_a_cue() -> None:
    cues = make_cues(timed("Yes. No. Maybe so."))
    assert [c.lines for c in cues] == [("Yes. No. Maybe so.",)]


def test_a_brief_sentence_shares_a_cue_on_a_line_of_its_own() -> None:
    words = timed('"No." The surveyor folded up his theodolite. He left with the tide that day.')
    cues = make_cues(words)
    check_cues(words, cues)
    assert cues[0].lines == ('"No."', "The surveyor folded up his theodolite.")


def test_a_closing_quote_still_ends_the_sentence() -> None:
    words = timed('He looked out at the water for a long while and said, "Go home." ' * 2)
    cues = make_cues(words)
    assert [" ".join(c.lines) for c in cues] == [
        'He looked out at the water for a long while and said, "Go home."'
    ] * 2


def test_a_long_sentence_is_cut_after_its_clause_mark() -> None:
    text = (
        "Mara climbed the hundred and twelve steps with oil and a notebook, "
        "as her grandfather had done before her on every night of his life."
    )
    words = timed(text)
    cues = make_cues(words)
    check_cues(words, cues)
    assert cues[0].lines[-1].endswith("notebook,") and len(cues) == 2


def test_a_long_sentence_without_marks_is_cut_at_the_widest_pause() -> None:
    words = steady(
        "the surveyor wanted to measure the tower from the rocks below before the tide "
        "came back in over the long causeway that evening"
    )
    pause = 10  # after "below"
    words = words[: pause + 1] + [
        Word(w.text, w.start + 0.6, w.end + 0.6, 0, w.length) for w in words[pause + 1 :]
    ]
    cues = make_cues(words)
    check_cues(words, cues)
    assert len(cues) == 2 and cues[0].lines[-1].endswith("below")


def test_two_lines_are_balanced() -> None:
    words = timed("The lamp was lit at six in the evening and burned until the morning came.")
    (cue,) = make_cues(words)
    first, second = cue.lines
    assert abs(len(first) - len(second)) <= 6


def test_cues_last_seven_seconds_at_most() -> None:
    words = steady("slow " * 60, step=0.9)
    cues = make_cues(words)
    check_cues(words, cues)
    assert all(c.end - c.start <= 7.0 for c in cues) and len(cues) >= 8


def test_a_brief_cue_is_held_into_the_silence_but_not_past_the_next() -> None:
    long = "And then the surveyor folded his brass theodolite and walked back to the boat"
    held = [Word("Yes.", 2.0, 2.3, 0, 4), *steady(long, start=9.0)]
    cues = make_cues(held)
    assert cues[0].lines == ("Yes.",) and cues[0].end == pytest.approx(3.0)
    crowded = [Word("Yes.", 2.0, 2.3, 0, 4), *steady(long, start=2.5)]
    cues = make_cues(crowded)
    check_cues(crowded, cues)
    assert cues[0].lines == ("Yes.",) and cues[0].end == 2.5
    (last,) = make_cues([Word("End.", 10.0, 10.2, 0, 4)])
    assert (last.start, last.end) == (10.0, 11.0)


def test_a_word_longer_than_a_line_stands_alone() -> None:
    giant = "pneumonoultramicroscopicsilicovolcanoconiosis-and-more"
    words = timed(f"He spoke of {giant} as if it were the weather of the coast all winter.")
    cues = make_cues(words)
    check_cues(words, cues)
    assert any(giant in c.lines for c in cues)


def test_vtt_escapes_markup_and_srt_drops_control_characters() -> None:
    cues = [Cue(0.0, 1.5, ("<b>& bold</b>", "a --> b")), Cue(2.0, 3.0, ("bell\x07 and\u2028 tab",))]
    vtt = to_vtt(cues)
    assert "&lt;b&gt;&amp; bold&lt;/b&gt;\na --&gt; b" in vtt
    assert "<" not in vtt and "\x07" not in vtt
    srt = to_srt(cues)
    assert "<b>& bold</b>" in srt and "bell and tab" in srt and "\x07" not in srt


def test_timestamps_round_half_up_and_srt_hours_have_two_digits() -> None:
    cues = [Cue(3661.0005, 3661.0014, ("a",)), Cue(360_000.0, 360_001.0, ("b",))]
    assert to_srt(cues) == (
        "1\n01:01:01,001 --> 01:01:01,001\na\n\n2\n99:59:59,999 --> 99:59:59,999\nb\n"
    )
    assert to_vtt(cues) == (
        "WEBVTT\n\n01:01:01.001 --> 01:01:01.001\na\n\n100:00:00.000 --> 100:00:01.000\nb\n"
    )


def test_no_words_give_no_cues_and_empty_files() -> None:
    assert make_cues([]) == []
    assert to_srt([]) == "" and render("srt", []) == ""
    assert to_vtt([]) == "WEBVTT\n\n" and parse(to_vtt([]), vtt=True) == []


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ass"):
        render("ass", [])


def test_an_hour_long_chapter_takes_well_under_a_second() -> None:
    paragraph = timed(PROSE)
    span = paragraph[-1].end + 0.5
    words: list[Word] = []
    while len(words) < 50_000:
        shift = len(words) // len(paragraph) * span
        words.extend(Word(w.text, w.start + shift, w.end + shift, 0, w.length) for w in paragraph)
    scale = 3600 / words[-1].end
    words = [Word(w.text, w.start * scale, w.end * scale, 0, w.length) for w in words]
    began = time.perf_counter()
    cues = make_cues(words)
    assert time.perf_counter() - began < 1.0
    check_cues(words, cues)
