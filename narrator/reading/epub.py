"""Read an EPUB (2 or 3) as a book: the spine's order, the table of contents' chapters.

Reading order is the spine's, never the manifest's (listing documents in manifest order is
the best-known way narration tools scramble books). Chapters come from the EPUB 3 navigation
document, else the NCX: the spine is read as one stream of paragraphs, and each table of
contents target (a file, or an anchor inside one) cuts it, so a chapter may start mid-file
or span files. What no listener wants read (cover, contents, copyright, index, unlisted
front matter) is left out and said in one warning.

The archive is untrusted: sizes and compression ratios are checked before anything is
unpacked, XML is parsed with ``defusedxml``, and every way the book can be broken is a
``DocumentError`` naming the file, raised while reading, so a dry run reports it.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from narrator.errors import DocumentError
from narrator.reading.book import Book, Chapter
from narrator.reading.drafts import stem
from narrator.reading.epubnav import (
    Entry,
    Landmarks,
    Metadata,
    chapter_entries,
    children,
    nav_entries,
    ncx_entries,
    resolve,
)
from narrator.reading.htmltext import (
    Paragraph,
    epub_types,
    first_heading,
    parse_markup,
    speak,
)
from narrator.reading.speech_text import finish_paragraph, join_paragraphs
from narrator.reading.textclean import without_controls
from narrator.settings import ParseOptions

MEMBER_LIMIT = 64 * 2**20
TOTAL_LIMIT = 512 * 2**20
RATIO_LIMIT = 100
# A small member cannot do harm at any ratio, and a page of blank lines compresses 200x.
_RATIO_FLOOR = 2**20
_XHTML = frozenset(("application/xhtml+xml", "text/html"))
_NCX = "application/x-dtbncx+xml"
_XML_ENCODING = re.compile(rb"""<\?xml[^>]{0,200}?encoding=["']([A-Za-z0-9._-]{1,40})["']""")

# fmt: off
_SKIPPED = {
    "cover": "cover", "toc": "table of contents", "copyright-page": "copyright",
    "copyright": "copyright", "index": "index", "titlepage": "title page",
    "title-page": "title page", "halftitlepage": "half title", "imprint": "imprint",
    "colophon": "colophon", "loi": "list of illustrations", "lot": "list of tables",
}
# Front matter a listener wants, whether the table of contents lists it or not.
_KEPT = frozenset(("preface", "foreword", "introduction", "prologue", "preamble"))
# fmt: on


@dataclass
class _Item:
    path: str
    media_type: str
    properties: set[str]


@dataclass
class _Document:
    """A spine document: where its paragraphs start in the book's stream, and its speech."""

    path: str
    types: set[str]
    paragraphs: list[Paragraph] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)


def read_epub(data: bytes, source: Path, options: ParseOptions) -> Book:
    """The book an EPUB's bytes hold; a ``DocumentError`` for any broken part of it."""
    archive = _Archive(data, source)
    opf_path = _rootfile(archive)
    opf = archive.xml(opf_path, "package document")
    base = posixpath.dirname(opf_path)
    manifest = _manifest(opf, base)
    spine = _spine(opf, manifest, archive)
    warnings: list[str] = []
    landmarks, entries = _navigation(archive, opf, manifest, base, warnings)
    documents = [_read_document(archive, item, landmarks, options, warnings) for item in spine]
    chapters = _chapters(documents, entries, options, warnings)
    if not chapters:
        raise DocumentError(source, "nothing to narrate")
    meta = Metadata(opf)
    return Book(
        source=source,
        title=meta.first("title") or stem(source),
        author=meta.author(),
        chapters=tuple(chapters),
        warnings=tuple(warnings),
        description=meta.description(),
        language=meta.first("language") or None,
        cover=_cover(archive, opf, manifest, warnings),
    )


class _Archive:
    """The zip container, refused whole if it looks like a zip bomb."""

    def __init__(self, data: bytes, source: Path) -> None:
        self.source = source
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            raise DocumentError(source, "not an EPUB (not a zip archive)") from exc
        total = 0
        for info in infos:
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if (
                info.file_size > MEMBER_LIMIT
                or total > TOTAL_LIMIT
                or (info.file_size > _RATIO_FLOOR and ratio > RATIO_LIMIT)
            ):
                raise DocumentError(
                    source, f"refused as a zip bomb ({info.filename!r} unpacks too large)"
                )
        self.names = {info.filename: info for info in infos}
        self.folded = {name.lower(): name for name in self.names}

    def read(self, name: str) -> bytes | None:
        """A member's bytes, None when absent (names match case-insensitively as a last
        resort: books made on Windows or macOS often disagree with their own manifest)."""
        info = self.names.get(name) or self.names.get(self.folded.get(name.lower(), ""))
        if info is None:
            return None
        try:
            with self.zip.open(info) as member:
                return member.read()  # the declared size, already checked, bounds this
        except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError) as exc:
            raise DocumentError(self.source, f"{name} cannot be unpacked ({exc})") from exc

    def need(self, name: str, what: str) -> bytes:
        data = self.read(name)
        if data is None:
            raise DocumentError(self.source, f"{what} {name} is missing")
        return data

    def xml(self, name: str, what: str) -> Element:
        data = self.need(name, what)
        try:
            root: Element = fromstring(data)
        except (ParseError, DefusedXmlException, ValueError) as exc:
            raise DocumentError(self.source, f"{what} {name} is malformed XML ({exc})") from exc
        return root


def _rootfile(archive: _Archive) -> str:
    container = archive.xml("META-INF/container.xml", "container")
    for rootfile in children(container, "rootfile"):
        path = rootfile.get("full-path")
        if path and rootfile.get("media-type", "application/oebps-package+xml").endswith("xml"):
            return path
    raise DocumentError(archive.source, "container.xml names no package document")


def _manifest(opf: Element, base: str) -> dict[str, _Item]:
    items = {}
    for item in children(opf, "item"):
        href, ident = item.get("href"), item.get("id")
        if href and ident:
            path, _ = resolve(base, href)
            properties = set(item.get("properties", "").split())
            items[ident] = _Item(path, item.get("media-type", "").lower(), properties)
    return items


def _spine(opf: Element, manifest: dict[str, _Item], archive: _Archive) -> list[_Item]:
    """The spine's linear (X)HTML documents in order; a missing one breaks the book."""
    found = []
    for ref in children(opf, "itemref"):
        ident = ref.get("idref", "")
        item = manifest.get(ident)
        if item is None:
            raise DocumentError(archive.source, f"spine item {ident!r} is not in the manifest")
        if item.media_type not in _XHTML or ref.get("linear") == "no":
            continue  # images with fallbacks, and auxiliary pages (notes, pop-ups)
        if item.path not in archive.names and item.path.lower() not in archive.folded:
            raise DocumentError(archive.source, f"spine item {item.path} is missing")
        found.append(item)
    if not found:
        raise DocumentError(archive.source, "the spine lists no readable documents")
    _refuse_drm(archive, found)
    return found


def _refuse_drm(archive: _Archive, spine: list[_Item]) -> None:
    """Encrypted text would read as noise; fonts alone may be (obfuscation), text not."""
    if "META-INF/encryption.xml" not in archive.names:
        return
    try:
        root = archive.xml("META-INF/encryption.xml", "encryption list")
    except DocumentError:
        return
    encrypted = {resolve("", ref.get("URI", ""))[0] for ref in children(root, "CipherReference")}
    if any(item.path in encrypted for item in spine):
        raise DocumentError(archive.source, "encrypted (DRM); cannot be read")


def _navigation(
    archive: _Archive, opf: Element, manifest: dict[str, _Item], base: str, warnings: list[str]
) -> tuple[Landmarks, list[Entry]]:
    """Landmarks (nav, else guide) and the table of contents (nav, else NCX)."""
    landmarks: Landmarks = {}
    for reference in children(opf, "reference"):  # the EPUB 2 guide
        path, _ = resolve(base, reference.get("href", ""))
        landmarks.setdefault(path, set()).add(reference.get("type", "").lower())
    entries: list[Entry] = []
    nav = next((item for item in manifest.values() if "nav" in item.properties), None)
    if nav is not None and (data := archive.read(nav.path)) is not None:
        soup = parse_markup(_decode(data)[0])
        entries = nav_entries(soup, posixpath.dirname(nav.path), landmarks)
        landmarks[nav.path] = {"toc"}  # the navigation document is never read as a chapter
    if not entries:
        ncx = _ncx_item(opf, manifest)
        if ncx is not None and (data := archive.read(ncx.path)) is not None:
            try:
                entries = ncx_entries(fromstring(data), posixpath.dirname(ncx.path))
            except (ParseError, DefusedXmlException, ValueError):
                warnings.append(f"table of contents {ncx.path} is malformed; not used")
    return landmarks, entries


def _ncx_item(opf: Element, manifest: dict[str, _Item]) -> _Item | None:
    spine = next(iter(children(opf, "spine")), None)
    ident = spine.get("toc", "") if spine is not None else ""
    found = manifest.get(ident)
    return found or next((i for i in manifest.values() if i.media_type == _NCX), None)


def _decode(data: bytes) -> tuple[str, int]:
    """XHTML as text (a BOM, else the XML declaration, else UTF-8), and the control
    characters dropped from it; bytes that do not decode become U+FFFD, not an error."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return without_controls(data.decode(codec, "replace").removeprefix("\ufeff"))
    match = _XML_ENCODING.match(data)
    codec = match.group(1).decode("ascii") if match else "utf-8"
    try:
        text = data.decode(codec, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    return without_controls(text)


def _read_document(
    archive: _Archive,
    item: _Item,
    landmarks: Landmarks,
    options: ParseOptions,
    warnings: list[str],
) -> _Document:
    text, dropped = _decode(archive.need(item.path, "spine item"))
    if dropped:
        warnings.append(f"{item.path}: {dropped} control character(s) removed from the text")
    soup = parse_markup(text)
    body = soup.find("body") or soup
    types = set(landmarks.get(item.path, set())) | epub_types(body)
    for child in body.find_all(recursive=False):
        types |= epub_types(child)
    if any("toc" in epub_types(nav) for nav in body.find_all("nav")):
        types.add("toc")
    speech = speak(body, options)
    return _Document(item.path, types, speech.paragraphs, speech.anchors)


def skipped_kind(types: set[str]) -> str | None:
    """What a document is, when it is something a listener does not want read."""
    for value in sorted(types):
        if value in _SKIPPED:
            return _SKIPPED[value]
    if "frontmatter" in types and not types & _KEPT:
        return "front matter"
    return None


def _chapters(
    documents: list[_Document], entries: list[Entry], options: ParseOptions, warnings: list[str]
) -> list[Chapter]:
    """Cut the stream of the documents kept at the table of contents' targets."""
    kinds = [skipped_kind(document.types) for document in documents]
    readable = {d.path for d, kind in zip(documents, kinds, strict=True) if kind is None}
    targets = chapter_entries(entries, options.heading_level, readable)
    listed = {entry.path for entry in entries} & readable
    first = next((n for n, d in enumerate(documents) if d.path in listed), None)
    if first is None:  # no usable table of contents: one chapter per document
        targets = [Entry("", d.path, "") for d in documents if d.path in readable]
        first = next((n for n, kind in enumerate(kinds) if kind is None), 0)
    kept: list[_Document] = []
    for number, document in enumerate(documents):
        if kinds[number] is None and number < first:
            if not document.types & _KEPT:
                kinds[number] = "unlisted page"
                continue
            targets.insert(0, Entry("", document.path, ""))
        if kinds[number] is None:
            kept.append(document)
    _warn_skipped(kinds, first, warnings)
    stream: list[Paragraph] = []
    starts: dict[tuple[str, str], int] = {}
    for document in kept:
        starts[document.path, ""] = len(stream)
        for anchor, position in document.anchors.items():
            starts[document.path, anchor] = len(stream) + position
        stream.extend(document.paragraphs)
    cuts: dict[int, str] = {}
    for entry in targets:
        at = starts.get((entry.path, entry.fragment), starts.get((entry.path, "")))
        if at is not None:
            cuts.setdefault(at, entry.label)
    return _cut(stream, sorted(cuts.items()), warnings)


def _warn_skipped(kinds: list[str | None], first: int, warnings: list[str]) -> None:
    """One warning for every document left out: what they were, and how many."""
    skipped = [(number, kind) for number, kind in enumerate(kinds) if kind is not None]
    if not skipped:
        return
    names = ", ".join(dict.fromkeys(kind for _, kind in skipped))
    where = "front matter" if all(n < first for n, _ in skipped) else "front or back matter"
    files = f"{len(skipped)} file" + ("s" if len(skipped) > 1 else "")
    warnings.append(f"skipped {names} ({files}) as {where}")


def _cut(
    stream: list[Paragraph], cuts: list[tuple[int, str]], warnings: list[str]
) -> list[Chapter]:
    """Chapters between consecutive cuts; text before the first cut opens the first chapter,
    and a chapter of headings alone (a part's title page) opens the next one."""
    chapters: list[Chapter] = []
    carried: list[Paragraph] = []
    for number, (start, label) in enumerate(cuts):
        end = cuts[number + 1][0] if number + 1 < len(cuts) else len(stream)
        own = stream[0 if number == 0 else start : end]
        heading = first_heading(stream[start:end])
        title = label or heading or f"Chapter {len(chapters) + 1}"
        # Its heading is a chapter's first line: said in place if it has one, else added.
        said = title == heading and not label
        if own and own[0].level == 0 and not said and (spoken := finish_paragraph(title)):
            own.insert(0, Paragraph(spoken, 1, title))
        part, carried = carried + own, []
        if not any(paragraph.level == 0 for paragraph in part):
            if number + 1 < len(cuts):
                carried = part
            elif part:
                warnings.append(f"chapter {title!r} has nothing to narrate; skipped")
            continue
        text = join_paragraphs(paragraph.text for paragraph in part)
        chapters.append(Chapter(len(chapters) + 1, title, text))
    return chapters


def _cover(
    archive: _Archive, opf: Element, manifest: dict[str, _Item], warnings: list[str]
) -> tuple[bytes, str] | None:
    """The cover image (EPUB 3 ``cover-image``, else EPUB 2 ``<meta name="cover">``)."""
    item = next((i for i in manifest.values() if "cover-image" in i.properties), None)
    if item is None:
        meta = next((m for m in children(opf, "meta") if m.get("name") == "cover"), None)
        ident = meta.get("content", "") if meta is not None else ""
        item = manifest.get(ident) or next(
            (i for i in manifest.values() if ident and i.path.endswith(ident)), None
        )
    if item is None or not item.media_type.startswith("image/"):
        return None
    data = archive.read(item.path)
    if not data:
        warnings.append(f"cover image {item.path} is missing; no cover")
        return None
    return data, item.media_type
