"""``narrate --list-voices``: the ids ``--voice`` takes, one line each, so no browser is needed.

With the elevenlabs engine the list is the service's (the account's own voices included),
fetched with the key the run would use; with the local engine it is read offline from
``narrator.local``, followed by the eSpeak NG names that engine also accepts directly.
Both print the same columns: id, name, category, then accent, gender and age.
"""

from __future__ import annotations

import re
import textwrap

import click

from narrator.cli.display import printable
from narrator.local.voice import VOICE_TABLE
from narrator.local.voices import espeak_names, voice_list
from narrator.service.voices import Voice, fetch_voices, parse_voices

#: A name longer than this overflows its column rather than widening every line.
_NAME_WIDTH = 28
_WRAP = 88


def list_voices(engine: str, base_url: str, api_key: str | None) -> int:
    """Print the voices of ``engine`` ("elevenlabs" needs ``api_key``); the exit code."""
    if engine == "elevenlabs" and api_key:
        for line in voice_lines(fetch_voices(base_url, api_key)):
            click.echo(line)
        return 0
    local = parse_voices({"voices": voice_list()})
    notes = {voice_id: f"(eSpeak {espeak})" for voice_id, espeak in VOICE_TABLE.items()}
    for line in voice_lines(local, notes):
        click.echo(line)
    click.echo()
    for line in espeak_lines():
        click.echo(line)
    return 0


def voice_lines(voices: list[Voice], notes: dict[str, str] | None = None) -> list[str]:
    """One aligned line per voice, in the order given; what the service wrote is made safe."""
    rows = [
        (
            printable(v.voice_id),
            printable(v.name),
            printable(v.category),
            printable(" ".join(filter(None, [v.summary, (notes or {}).get(v.voice_id, "")]))),
        )
        for v in voices
    ]
    if not rows:
        return []
    id_width = max(len(row[0]) for row in rows)
    name_width = min(_NAME_WIDTH, max(len(row[1]) for row in rows))
    category_width = max(len(row[2]) for row in rows)
    return [
        f"{ident:<{id_width}}  {name:<{name_width}}  {category:<{category_width}}  {rest}".rstrip()
        for ident, name, category, rest in rows
    ]


def espeak_lines() -> list[str]:
    """The eSpeak NG names the local engine takes as a voice id, in a few wrapped lines."""
    languages, variants = espeak_names()
    numbered = [v for v in variants if re.fullmatch(r"[fm]\d+", v)]
    others = [v for v in variants if v not in numbered]
    intro = (
        "The local engine also takes any eSpeak NG voice as --voice, "
        "with an optional +variant (en-us+f2):"
    )
    return [
        *textwrap.wrap(intro, _WRAP),
        *textwrap.wrap(
            f"languages ({len(languages)}): " + " ".join(languages),
            _WRAP,
            initial_indent="  ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        ),
        *textwrap.wrap(
            "variants: "
            + " ".join(numbered)
            + f" and {len(others)} more ("
            + ", ".join(others[:3])
            + "...)",
            _WRAP,
            initial_indent="  ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        ),
    ]
