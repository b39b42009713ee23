"""The podcast feed, parsed back: what a player or directory reads is what we meant."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

import pytest

from narrator.output.feed import (
    ITUNES_NS,
    PODCAST_NS,
    Channel,
    Episode,
    chapters_json,
    episode_url,
    format_duration,
    render_feed,
    stable_guid,
)

NS = {"itunes": ITUNES_NS, "podcast": PODCAST_NS}
BASE = "https://books.example.org/narrated"
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def channel(**changes: object) -> Channel:
    base = Channel(
        title="Narrated books",
        description="Books read aloud",
        link=BASE,
        author="A. Writer",
        language="en",
        image_url="https://books.example.org/cover.jpg",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def episode(name: str, published: datetime = T0, **changes: object) -> Episode:
    base = Episode(
        guid=stable_guid(f"{name}.md"),
        title=name,
        description=f"About {name}",
        url=episode_url(BASE, PurePosixPath(f"{name}.mp3")),
        length=123_456,
        mime="audio/mpeg",
        duration_s=61.4,
        published=published,
        chapters_url=episode_url(BASE, PurePosixPath(f"{name}.chapters.json")),
        transcript_url=episode_url(BASE, PurePosixPath(f"{name}.vtt")),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(data)


def test_channel_has_required_elements_with_namespaces_resolved() -> None:
    root = parse(render_feed(channel(), [episode("one")]))
    assert root.tag == "rss" and root.get("version") == "2.0"
    chan = root.find("channel")
    assert chan is not None
    assert chan.findtext("title") == "Narrated books"
    assert chan.findtext("link") == BASE
    assert chan.findtext("description") == "Books read aloud"
    assert chan.findtext("language") == "en"
    assert chan.findtext("lastBuildDate") == "Sun, 01 Mar 2026 09:30:00 GMT"
    assert chan.findtext("itunes:author", namespaces=NS) == "A. Writer"
    assert chan.findtext("itunes:explicit", namespaces=NS) == "false"
    category = chan.find("itunes:category", NS)
    assert category is not None and category.get("text") == "Arts"
    sub = category.find("itunes:category", NS)
    assert sub is not None and sub.get("text") == "Books"
    image = chan.find("itunes:image", NS)
    assert image is not None and image.get("href") == "https://books.example.org/cover.jpg"


def test_both_namespaces_declared_even_without_podcast_tags() -> None:
    data = render_feed(channel(), [episode("one", chapters_url=None, transcript_url=None)])
    assert f'xmlns:itunes="{ITUNES_NS}"'.encode() in data
    assert f'xmlns:podcast="{PODCAST_NS}"'.encode() in data
    parse(data)


def test_item_elements_and_values() -> None:
    ep = episode("one")
    item = parse(render_feed(channel(), [ep])).find("channel/item")
    assert item is not None
    assert item.findtext("title") == "one"
    assert item.findtext("description") == "About one"
    guid = item.find("guid")
    assert guid is not None and guid.text == ep.guid and guid.get("isPermaLink") == "false"
    assert item.findtext("pubDate") == "Sun, 01 Mar 2026 09:30:00 GMT"
    enclosure = item.find("enclosure")
    assert enclosure is not None
    assert enclosure.attrib == {"url": f"{BASE}/one.mp3", "length": "123456", "type": "audio/mpeg"}
    assert item.findtext("itunes:duration", namespaces=NS) == "00:01:01"
    chapters = item.find("podcast:chapters", NS)
    assert chapters is not None
    assert chapters.attrib == {
        "url": f"{BASE}/one.chapters.json",
        "type": "application/json+chapters",
    }
    transcript = item.find("podcast:transcript", NS)
    assert transcript is not None
    assert transcript.attrib == {"url": f"{BASE}/one.vtt", "type": "text/vtt", "rel": "captions"}


def test_pub_date_of_other_zone_is_written_in_gmt() -> None:
    paris = timezone(timedelta(hours=1))
    ep = episode("one", published=datetime(2026, 3, 1, 10, 30, tzinfo=paris))
    item = parse(render_feed(channel(), [ep])).find("channel/item")
    assert item is not None and item.findtext("pubDate") == "Sun, 01 Mar 2026 09:30:00 GMT"


def test_hostile_title_round_trips() -> None:
    title = "Tom & Jerry <script>\"quoted\" 'single' — Ærø 日本語 🎧"
    ep = episode("one", title=title, description=title)
    data = render_feed(channel(title=title, description=title, author=title), [ep])
    chan = parse(data).find("channel")
    assert chan is not None
    assert chan.findtext("title") == title
    assert chan.findtext("description") == title
    assert chan.findtext("itunes:author", namespaces=NS) == title
    assert chan.findtext("item/title") == title
    assert chan.findtext("item/description") == title
    assert "日本語".encode() in data  # UTF-8, not character references


def test_characters_forbidden_in_xml_are_dropped_not_written() -> None:
    ep = episode("one", title="bell\x07 and\x0b tab\tok")
    item = parse(render_feed(channel(), [ep])).find("channel/item")
    assert item is not None and item.findtext("title") == "bell and tab\tok"


def test_episode_url_percent_encodes_each_segment() -> None:
    rel = PurePosixPath("My Book #2/01 - Why? 100% Ærø.mp3")
    url = episode_url(BASE, rel)
    assert url == f"{BASE}/My%20Book%20%232/01%20-%20Why%3F%20100%25%20%C3%86r%C3%B8.mp3"
    assert url.isascii()
    assert episode_url(BASE + "/", rel) == url
    assert episode_url("http://host", PurePosixPath("a.mp3")) == "http://host/a.mp3"


def test_enclosure_url_in_feed_is_absolute_and_encoded() -> None:
    url = episode_url(BASE, PurePosixPath("Chapter & Verse.mp3"))
    item = parse(render_feed(channel(), [episode("x", url=url)])).find("channel/item")
    assert item is not None
    enclosure = item.find("enclosure")
    assert enclosure is not None
    assert enclosure.get("url") == f"{BASE}/Chapter%20%26%20Verse.mp3"


@pytest.mark.parametrize(
    "base",
    [
        "ftp://host/x",
        "file:///srv/books",
        "books.example.org/x",
        "https:///nohost",
        "https://host/x?token=1",
        "https://host/x?",
        "https://host/x#top",
        "https://host/my books",
        "",
    ],
)
def test_bad_base_url_raises_value_error(base: str) -> None:
    with pytest.raises(ValueError):
        episode_url(base, PurePosixPath("a.mp3"))


@pytest.mark.parametrize("rel", ["/etc/passwd", "../up.mp3", "a/../b.mp3", "."])
def test_path_outside_output_folder_raises_value_error(rel: str) -> None:
    with pytest.raises(ValueError):
        episode_url(BASE, PurePosixPath(rel))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00:00"), (59, "00:00:59"), (59.6, "00:01:00"), (3600, "01:00:00"),
     (36_000, "10:00:00"), (3 * 3600 + 25 * 60 + 7, "03:25:07"), (100 * 3600, "100:00:00")],
)  # fmt: skip
def test_itunes_duration_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    item = parse(render_feed(channel(), [episode("x", duration_s=seconds)])).find("channel/item")
    assert item is not None and item.findtext("itunes:duration", namespaces=NS) == text


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_bad_duration_raises(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_duration(seconds)


def test_guid_is_stable_and_distinct_per_path() -> None:
    guid = stable_guid("books/One.md")
    assert guid == stable_guid("books/One.md")
    assert guid == stable_guid("./books//One.md")
    assert guid == stable_guid("books\\One.md")
    assert guid.startswith("narrator:") and len(guid) == len("narrator:") + 32
    assert guid != stable_guid("books/Two.md")
    assert guid != stable_guid("books/one.md")
    assert guid != stable_guid("other/One.md")


def test_guid_ignores_unicode_normalisation_form() -> None:
    assert stable_guid("Caf\u00e9.md") == stable_guid("Cafe\u0301.md")


def test_feed_is_byte_identical_across_renders() -> None:
    eps = [episode("one"), episode("two", published=T0 + timedelta(days=1))]
    assert render_feed(channel(), eps) == render_feed(channel(), list(reversed(eps)))


def test_items_sorted_newest_first() -> None:
    eps = [
        episode("old", published=T0),
        episode("newest", published=T0 + timedelta(days=2)),
        episode("middle", published=T0 + timedelta(days=1)),
    ]
    chan = parse(render_feed(channel(), eps)).find("channel")
    assert chan is not None
    assert [i.findtext("title") for i in chan.findall("item")] == ["newest", "middle", "old"]
    assert chan.findtext("lastBuildDate") == "Tue, 03 Mar 2026 09:30:00 GMT"


def test_optional_tags_absent_when_not_given() -> None:
    bare = channel(author=None, language=None, image_url=None)
    ep = episode("one", description=None, chapters_url=None, transcript_url=None)
    chan = parse(render_feed(bare, [ep])).find("channel")
    assert chan is not None
    for path in ["language", "itunes:author", "itunes:image", "item/description",
                 "item/podcast:chapters", "item/podcast:transcript"]:  # fmt: skip
        assert chan.find(path, NS) is None, path
    assert chan.find("itunes:explicit", NS) is not None


def test_empty_feed_has_no_items_and_no_build_date() -> None:
    chan = parse(render_feed(channel(), [])).find("channel")
    assert chan is not None
    assert chan.findall("item") == [] and chan.find("lastBuildDate") is None


def test_transcript_other_than_captions_has_no_rel() -> None:
    ep = episode("one", transcript_mime="text/html")
    transcript = parse(render_feed(channel(), [ep])).find("channel/item/podcast:transcript", NS)
    assert transcript is not None
    assert transcript.get("type") == "text/html" and transcript.get("rel") is None


def test_m4a_enclosure_type() -> None:
    item = parse(render_feed(channel(), [episode("x", mime="audio/x-m4a")])).find("channel/item")
    assert item is not None
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("type") == "audio/x-m4a"


@pytest.mark.parametrize(
    "bad",
    [
        {"published": datetime(2026, 3, 1, 9, 30)},
        {"mime": "audio/wav"},
        {"length": -1},
        {"duration_s": -5.0},
    ],
)
def test_invalid_episode_raises(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_feed(channel(), [episode("one", **bad)])


def test_repeated_guid_or_enclosure_url_raises() -> None:
    one = episode("one")
    with pytest.raises(ValueError, match="guid"):
        render_feed(channel(), [one, replace(episode("two"), guid=one.guid)])
    with pytest.raises(ValueError, match="enclosure"):
        render_feed(channel(), [one, replace(episode("two"), url=one.url)])


def test_bad_channel_link_raises() -> None:
    with pytest.raises(ValueError):
        render_feed(channel(link="not a url"), [])


def test_chapters_json_parses_back() -> None:
    data = chapters_json([(0.0, "Opening"), (61.23456, "Tom & Jerry — Ærø"), (3600, "Last")])
    assert data.endswith(b"\n")
    parsed = json.loads(data.decode("utf-8"))
    assert parsed == {
        "version": "1.2.0",
        "chapters": [
            {"startTime": 0.0, "title": "Opening"},
            {"startTime": 61.235, "title": "Tom & Jerry — Ærø"},
            {"startTime": 3600, "title": "Last"},
        ],
    }


@pytest.mark.parametrize(
    "chapters", [[(-1.0, "a")], [(5.0, "a"), (4.0, "b")], [(float("nan"), "a")]]
)
def test_chapters_json_refuses_bad_times(chapters: list[tuple[float, str]]) -> None:
    with pytest.raises(ValueError):
        chapters_json(chapters)
