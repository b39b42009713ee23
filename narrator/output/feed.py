"""A podcast feed for a folder of narrated documents: RSS 2.0, Apple's ``itunes`` tags and the
Podcasting 2.0 ``podcast`` tags, plus the JSON chapters file those tags point to.

Pure functions over plain data: the caller says where the files are published and what they
contain; nothing here reads the disk or the network.

Why ElementTree and not a feed library: feedgen has no Podcasting 2.0 tags
(``podcast:chapters``, ``podcast:transcript``), podgen is unmaintained, and the XML is small.
The standard library does the escaping (``&``, ``<``, quotes), so titles taken from documents
cannot break the feed. The two namespaces are declared on ``<rss>`` with literal prefixes
rather than through ``ElementTree.register_namespace``, which would change process-wide state
and only declare a namespace once an element uses it.

Why guids are stable: players and directories deduplicate episodes by ``guid``; a guid that
changes between runs makes every subscriber download everything again, and a publication date
that moves reorders or resurfaces old episodes. So the guid comes from the document's path
alone (:func:`stable_guid`), the caller keeps each episode's first publication date, and
``lastBuildDate`` is the newest episode's date, so an unchanged folder renders byte-identical
feeds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
AUDIO_MIMES = frozenset({"audio/mpeg", "audio/x-m4a"})
CHAPTERS_MIME = "application/json+chapters"
CHAPTERS_VERSION = "1.2.0"
GUID_PREFIX = "narrator:"
# Podcasting 2.0 defines rel="captions" for timed caption formats only.
_CAPTION_MIMES = frozenset({"text/vtt", "application/x-subrip"})
# Characters XML 1.0 forbids; ElementTree would write them and make the feed unparseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Channel:
    """The feed as a whole: one per output folder. ``link`` is the public base URL."""

    title: str
    description: str
    link: str
    author: str | None
    language: str | None
    image_url: str | None


@dataclass(frozen=True)
class Episode:
    """One narrated document (or chapter file) as published: absolute URLs, real byte length."""

    guid: str
    title: str
    description: str | None
    url: str
    length: int
    mime: str
    duration_s: float
    published: datetime
    chapters_url: str | None
    transcript_url: str | None
    transcript_mime: str = "text/vtt"


def episode_url(base_url: str, relative: PurePosixPath) -> str:
    """The absolute URL of the file at ``relative`` inside the folder published at ``base_url``.

    Each path segment is percent-encoded on its own (spaces, ``#``, ``?``, ``%``, non-ASCII as
    UTF-8), so a chapter called ``01 - Why? #1.mp3`` stays one file name and not a query or
    a fragment. The base may end with a slash or not. A base that is not http(s), has no host,
    or carries a query or fragment is refused: appending a path to it would give a wrong URL.
    """
    _check_http_url(base_url, "base URL")
    parts = relative.parts
    if not parts or relative.is_absolute() or any(p in ("..", ".") for p in parts):
        raise ValueError(f"not a relative file path inside the output folder: {relative}")
    encoded = "/".join(quote(part, safe="") for part in parts)
    return base_url.rstrip("/") + "/" + encoded


def feed_url_problem(base_url: str) -> str | None:
    """Why ``base_url`` cannot be the public address of the output folder, or None."""
    try:
        _check_http_url(base_url, "the feed's base URL")
    except ValueError as exc:
        return str(exc)
    return None


def stable_guid(relative_source: str) -> str:
    """A guid that depends only on the document's path relative to the input folder.

    ``narrator:`` followed by the first 32 hex digits (128 bits) of the SHA-256 of the path in
    POSIX form and Unicode NFC, so the same document gets the same guid on every run and on
    every file system (macOS stores names decomposed), and different documents never share
    one in practice. Renaming or moving the document makes it a new episode, as it should.
    """
    path = PurePosixPath(relative_source.replace("\\", "/")).as_posix()
    if path in ("", "."):
        raise ValueError("a guid needs the document's relative path")
    digest = hashlib.sha256(unicodedata.normalize("NFC", path).encode("utf-8")).hexdigest()
    return GUID_PREFIX + digest[:32]


def render_feed(channel: Channel, episodes: Sequence[Episode]) -> bytes:
    """The feed's XML as UTF-8 bytes with an XML declaration; items newest first.

    Refused with ``ValueError``: naive publication dates, a mime type other than mp3/m4a, a
    negative length or duration, and repeated guids or enclosure URLs (players keep only one
    of the repeats, so an episode would silently vanish).
    """
    _check_http_url(channel.link, "channel link")
    _check_unique(episodes)
    ordered = sorted(episodes, key=lambda e: _utc(e.published, e.guid), reverse=True)
    rss = ET.Element("rss", {"version": "2.0"})
    # Literal prefixed names: declared once here, resolved by any namespace-aware parser.
    rss.set("xmlns:itunes", ITUNES_NS)
    rss.set("xmlns:podcast", PODCAST_NS)
    chan = ET.SubElement(rss, "channel")
    _channel_elements(chan, channel, ordered)
    for episode in ordered:
        _item(ET.SubElement(chan, "item"), episode)
    ET.indent(rss)
    body = ET.tostring(rss, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def chapters_json(chapters: Sequence[tuple[float, str]]) -> bytes:
    """A Podcasting 2.0 JSON chapters file (version 1.2.0) for one episode.

    Start times are seconds from the start of the episode's audio, rounded to milliseconds,
    and must not go backwards: players show the list as given.
    """
    entries: list[dict[str, object]] = []
    previous = 0.0
    for index, (start, title) in enumerate(chapters):
        if not math.isfinite(start) or start < previous:
            raise ValueError(f"chapter {index} ({title!r}) starts at {start} s, out of order")
        previous = start
        entries.append({"startTime": round(start, 3), "title": title})
    document = {"version": CHAPTERS_VERSION, "chapters": entries}
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def format_duration(seconds: float) -> str:
    """``itunes:duration`` as ``HH:MM:SS`` (whole seconds, hours not capped at 24)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {seconds}")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _channel_elements(chan: ET.Element, channel: Channel, ordered: Sequence[Episode]) -> None:
    _text(chan, "title", channel.title)
    _text(chan, "link", channel.link)
    _text(chan, "description", channel.description)
    if channel.language:
        _text(chan, "language", channel.language)
    if ordered:
        # The newest episode's date, not the clock: an unchanged folder gives the same bytes.
        _text(chan, "lastBuildDate", _rfc822(ordered[0].published, ordered[0].guid))
    if channel.author:
        _text(chan, "itunes:author", channel.author)
    _text(chan, "itunes:explicit", "false")
    arts = ET.SubElement(chan, "itunes:category", {"text": "Arts"})
    ET.SubElement(arts, "itunes:category", {"text": "Books"})
    if channel.image_url:
        _check_http_url(channel.image_url, "image URL", allow_query=True)
        ET.SubElement(chan, "itunes:image", {"href": channel.image_url})


def _item(item: ET.Element, episode: Episode) -> None:
    if episode.mime not in AUDIO_MIMES:
        raise ValueError(f"episode {episode.guid}: enclosure type {episode.mime!r} not mp3/m4a")
    if episode.length < 0:
        raise ValueError(f"episode {episode.guid}: negative length {episode.length}")
    _text(item, "title", episode.title)
    if episode.description:
        _text(item, "description", episode.description)
    _text(item, "guid", episode.guid).set("isPermaLink", "false")
    _text(item, "pubDate", _rfc822(episode.published, episode.guid))
    enclosure = {"url": _clean(episode.url), "length": str(episode.length), "type": episode.mime}
    ET.SubElement(item, "enclosure", enclosure)
    _text(item, "itunes:duration", format_duration(episode.duration_s))
    if episode.chapters_url:
        attrs = {"url": _clean(episode.chapters_url), "type": CHAPTERS_MIME}
        ET.SubElement(item, "podcast:chapters", attrs)
    if episode.transcript_url:
        attrs = {"url": _clean(episode.transcript_url), "type": episode.transcript_mime}
        if episode.transcript_mime in _CAPTION_MIMES:
            attrs["rel"] = "captions"
        ET.SubElement(item, "podcast:transcript", attrs)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _clean(text)
    return element


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _rfc822(moment: datetime, guid: str) -> str:
    return format_datetime(_utc(moment, guid), usegmt=True)


def _utc(moment: datetime, guid: str) -> datetime:
    """The moment in UTC; a naive date would be read in whatever zone each player is in."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"episode {guid}: publication date {moment.isoformat()} has no zone")
    return moment.astimezone(timezone.utc)


def _check_unique(episodes: Sequence[Episode]) -> None:
    guids: set[str] = set()
    urls: set[str] = set()
    for episode in episodes:
        if episode.guid in guids:
            raise ValueError(f"two episodes share the guid {episode.guid}")
        if episode.url in urls:
            raise ValueError(f"two episodes share the enclosure URL {episode.url}")
        guids.add(episode.guid)
        urls.add(episode.url)


def _check_http_url(url: str, what: str, *, allow_query: bool = False) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{what} is not a URL: {url!r}") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL: {url!r}")
    if not allow_query and ("?" in url or "#" in url):
        raise ValueError(f"{what} must not have a query or fragment: {url!r}")
    if any(c.isspace() for c in url):
        raise ValueError(f"{what} must not contain spaces: {url!r}")
