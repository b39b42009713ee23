"""What an EPUB says of itself: its tables of contents (the EPUB 3 navigation document's
``toc`` and ``landmarks``, the EPUB 2 NCX) as one flat list of targets, which of them start
chapters, and its Dublin Core metadata.

Kept apart from :mod:`narrator.reading.epub` (the archive and the package) because the
choice of chapter boundaries is a policy of its own: top-level entries, and deeper ones that
open another file (a part's chapters), unless ``--heading-level`` names a depth.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from bs4 import BeautifulSoup, Tag

from narrator.reading.htmltext import epub_types, parse_markup, text_of
from narrator.reading.textclean import without_controls

#: Landmark types by archive path (from the nav's ``landmarks`` or the EPUB 2 guide).
Landmarks = dict[str, set[str]]

_MAX_DEPTH = 12  # deeper tables of contents are not chapters, and recursion stays bounded


@dataclass(frozen=True)
class Entry:
    """One table of contents target; ``parent`` is the file its enclosing entry opens."""

    label: str
    path: str
    fragment: str
    depth: int = 1
    parent: str = ""


def resolve(base: str, href: str) -> tuple[str, str]:
    """A relative reference as (archive path, fragment); ("", "") for an external one."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return "", ""
    path = unquote(parts.path)
    joined = posixpath.normpath(posixpath.join(base, path)) if path else ""
    return joined, unquote(parts.fragment)


def _label(text: str) -> str:
    return without_controls(" ".join(text.split()))[0]


def nav_entries(soup: BeautifulSoup, base: str, landmarks: Landmarks) -> list[Entry]:
    """The ``toc`` nav's entries in order; the ``landmarks`` nav's types go into
    ``landmarks`` (they win over the guide's, which EPUB 3 keeps for old readers only)."""
    entries: list[Entry] = []
    for nav in soup.find_all("nav"):
        types = epub_types(nav)
        if "landmarks" in types:
            for link in nav.find_all("a"):
                path, _ = resolve(base, str(link.get("href", "")))
                if path:
                    landmarks[path] = epub_types(link)
        elif "toc" in types and not entries:
            top = nav.find("ol")
            if isinstance(top, Tag):
                _walk_list(top, base, 1, "", entries)
    return entries


def _walk_list(ol: Tag, base: str, depth: int, parent: str, entries: list[Entry]) -> None:
    if depth > _MAX_DEPTH:
        return
    for li in ol.find_all("li", recursive=False):
        target = next(
            (c for c in li.children if isinstance(c, Tag) and c.name in ("a", "span")), None
        )
        path, fragment = "", ""
        if isinstance(target, Tag):
            if target.name == "a":
                path, fragment = resolve(base, str(target.get("href", "")))
            if path:
                entries.append(Entry(_label(text_of(target)), path, fragment, depth, parent))
        inner = li.find("ol", recursive=False)
        if isinstance(inner, Tag):
            _walk_list(inner, base, depth + 1, path, entries)


def ncx_entries(root: Element, base: str) -> list[Entry]:
    """The NCX ``navMap``'s points in order."""
    entries: list[Entry] = []
    nav_map = next((e for e in root.iter() if local(e) == "navMap"), None)
    if nav_map is not None:
        _walk_points(nav_map, base, 1, "", entries)
    return entries


def _walk_points(parent: Element, base: str, depth: int, opened: str, entries: list[Entry]) -> None:
    if depth > _MAX_DEPTH:
        return
    for point in parent:
        if local(point) != "navPoint":
            continue
        label = next((e for e in point.iter() if local(e) == "navLabel"), None)
        content = next((e for e in point if local(e) == "content"), None)
        path, fragment = resolve(base, content.get("src", "")) if content is not None else ("", "")
        text = " ".join(label.itertext()) if label is not None else ""
        if path:
            entries.append(Entry(_label(text), path, fragment, depth, opened))
        _walk_points(point, base, depth + 1, path, entries)


def local(element: Element) -> str:
    """A tag's name without its namespace: books get their namespaces wrong often enough."""
    return local_name(element.tag) if isinstance(element.tag, str) else ""


def local_name(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def children(root: Element, name: str) -> list[Element]:
    """Every element under ``root`` (itself included) named ``name`` in any namespace."""
    return [element for element in root.iter() if local(element) == name]


def chapter_entries(entries: list[Entry], depth: int | None, readable: set[str]) -> list[Entry]:
    """The entries that start chapters, among those whose file is read.

    Without a chosen depth: every top-level entry, and a deeper one when it opens another
    file than its parent (a part's chapters); sections inside a chapter's file stay in it.
    """
    chosen = []
    for entry in entries:
        if entry.path not in readable:
            continue
        if depth is not None:
            wanted = entry.depth <= depth
        else:
            wanted = entry.depth == 1 or entry.path != entry.parent
        if wanted:
            chosen.append(entry)
    return chosen


class Metadata:
    """The package's Dublin Core metadata."""

    def __init__(self, opf: Element) -> None:
        metadata = next(iter(children(opf, "metadata")), opf)
        self.elements = list(metadata.iter())

    def first(self, name: str) -> str:
        for element in self.elements:
            if local(element) == name and (text := " ".join("".join(element.itertext()).split())):
                return without_controls(text)[0]
        return ""

    def author(self) -> str | None:
        """The first creator with role "aut" when roles are given (EPUB 2 ``opf:role``,
        EPUB 3 ``refines`` metadata), else the first creator."""
        roles = {}
        for meta in self.elements:
            if local(meta) == "meta" and meta.get("property") == "role" and meta.text:
                roles[meta.get("refines", "").lstrip("#")] = meta.text.strip().lower()
        creators = []
        for element in self.elements:
            name = " ".join("".join(element.itertext()).split())
            if local(element) == "creator" and name:
                role = next((v for k, v in element.attrib.items() if local_name(k) == "role"), "")
                role = role.lower() or roles.get(element.get("id", ""), "")
                creators.append((role, without_controls(name)[0]))
        for wanted in ("aut", ""):
            found = next((name for role, name in creators if role == wanted), None)
            if found:
                return found
        return creators[0][1] if creators else None

    def description(self) -> str | None:
        raw = self.first("description")  # often HTML, escaped inside the XML
        return (text_of(parse_markup(raw)) or None) if raw else None
