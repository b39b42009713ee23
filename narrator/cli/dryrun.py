"""``narrate --dry-run``: the plan, its size and its cost, with nothing written or sent.

Every line goes out through :func:`_echo`: titles and file names come from documents, and
one holding an escape sequence must not drive the user's terminal.
"""

from __future__ import annotations

import click

from narrator.cli.display import printable
from narrator.events import EventSink
from narrator.planning import estimated_seconds, max_segment_chars, pieces, plan_run
from narrator.segmenting import Gap, Span, plan_segments
from narrator.settings import RunSettings, credit_cost


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo(text: str = "", *, err: bool = False) -> None:
    click.echo("\n".join(printable(line) for line in text.split("\n")), err=err)


def _segments(spans: list[Span]) -> str:
    sizes = " + ".join(f"{span.end - span.start:,}" for span in spans)
    return f"cut into {len(spans)} segments at paragraph or sentence ends: {sizes} characters"


def print_plan(settings: RunSettings, emit: EventSink) -> int:
    """Print one table per document and the totals; returns the exit code."""
    loaded = plan_run(settings, emit)
    speed = settings.speech.nominal_speed
    chapters = [chapter for planned in loaded.books for chapter in planned.book.chapters]
    cuts = plan_segments(
        [Gap(c.text, 0, len(c.text)) for c in chapters],
        settings.concurrency,
        max_segment_chars(settings),
    )
    segments = {id(chapter): spans for chapter, spans in zip(chapters, cuts, strict=True)}
    total_chars = total_chapters = 0
    for planned in loaded.books:
        book = planned.book
        byline = f" by {book.author}" if book.author else ""
        _echo(f"{planned.source.path} -> {planned.folder}/  ({book.title}{byline})")
        _echo(f"  {'#':>3}  {'title':<40} {'chars':>9} {'min':>6}  file")
        for chapter, name in planned.chapters():
            sent = pieces(chapter)
            chars = sum(len(piece) for piece in sent)
            minutes = estimated_seconds(chars, speed) / 60
            _echo(
                f"  {chapter.index:>3}  {_fit(printable(chapter.title), 40):<40} {chars:>9,} "
                f"{minutes:>6.1f}  {name}"
            )
            if len(segments[id(chapter)]) > 1:
                _echo(f"       {_segments(segments[id(chapter)])}")
            if settings.show_text:
                _echo("".join(sent))
                _echo()
            total_chars += chars
            total_chapters += 1
    credits = credit_cost(total_chars, settings.speech.model_id)
    minutes = estimated_seconds(total_chars, speed) / 60
    _echo(
        f"total: {len(loaded.books)} document(s), {total_chapters} chapter(s), "
        f"{total_chars:,} characters, about {minutes:,.0f} min of audio, "
        f"about {credits:,.0f} credits with {settings.speech.model_id}"
    )
    budget = settings.max_characters
    if budget is not None:
        verdict = (
            "fits"
            if total_chars <= budget
            else f"over by {total_chars - budget:,}: the run stops there and the next continues"
        )
        _echo(f"budget: {total_chars:,} of {budget:,} characters ({verdict})")
    for problem in loaded.bad_documents:
        _echo(f"skipped document: {problem}", err=True)
    return 2 if loaded.bad_documents else 0
