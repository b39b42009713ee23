"""EPUB books built with ``zipfile`` in a temporary folder: order, chapters, front matter,
metadata, speech, broken archives, and a real run against the local engine."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from narrator.errors import DocumentError
from narrator.reading.book import Book
from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions
from tests.helpers import run_cli

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf"
    media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
XHTML = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>x</title><style>p {{ color: red }}</style></head>
<body{body}>{content}</body></html>"""


def page(content: str, body: str = "") -> str:
    return XHTML.format(content=content, body=body)


def write_epub(
    path: Path, files: dict[str, str | bytes], container: str | None = CONTAINER
) -> Path:
    """An EPUB as readers expect it: ``mimetype`` first and stored, then the rest."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        if container is not None:
            archive.writestr("META-INF/container.xml", container)
        for name, data in files.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def opf(manifest: str, spine: str, metadata: str = "", version: str = "3.0") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{version}" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:identifier id="id">urn:test</dc:identifier>{metadata}
  </metadata>
  <manifest>{manifest}</manifest>
  <spine toc="ncx">{spine}</spine>
</package>"""


NAV = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<body><h1>Contents</h1>
<nav epub:type="toc"><ol>
  <li><a href="text/one.xhtml">The Beginning</a>
    <ol><li><a href="text/one.xhtml#detail">A detail</a></li></ol></li>
  <li><a href="text/two.xhtml#second">The Second Part</a></li>
  <li><a href="text/two.xhtml#third">The Third Part</a></li>
  <li><a href="text/four.xhtml">The Long One</a></li>
</ol></nav>
<nav epub:type="landmarks"><ol>
  <li><a epub:type="cover" href="text/cover.xhtml">Cover</a></li>
  <li><a epub:type="toc" href="nav.xhtml">Contents</a></li>
  <li><a epub:type="bodymatter" href="text/one.xhtml">Start</a></li>
</ol></nav></body></html>"""

CHAPTERS = {
    "OEBPS/text/cover.xhtml": page('<img src="../cover.png" alt="The cover"/>'),
    "OEBPS/text/copyright.xhtml": page(
        '<section epub:type="copyright-page"><p>All rights reserved.</p></section>',
        ' epub:type="frontmatter"',
    ),
    "OEBPS/text/one.xhtml": page(
        "<h1>The Beginning</h1><p>It began on a Tuesday"
        '<a epub:type="noteref" href="notes.xhtml#n1">1</a>, as these things do'
        '<sup><a href="#n2">2</a></sup>.</p>'
        '<p>Read <a href="https://example.com/x">the old letters</a> first.</p>'
        '<p>A picture: <img src="p.png" alt="a red lighthouse"/> there.</p>'
        '<h2 id="detail">A detail</h2><p>Details matter.</p>'
        '<aside epub:type="footnote" id="n2"><p>A note nobody hears.</p></aside>'
    ),
    "OEBPS/text/two.xhtml": page(
        "<p>Still the first chapter, before any anchor.</p>"
        '<h1 id="second">The Second Part</h1><p>Second text<code>print(x)</code>.</p>'
        "<table><thead><tr><th>Name</th><th>Age</th></tr></thead>"
        "<tbody><tr><td>Ann</td><td>12</td></tr><tr><td>Bob</td><td>9</td></tr></tbody></table>"
        '<div id="third"><h1>The Third Part</h1><ul><li>Apples</li><li>Pears<ul><li>Green'
        "</li></ul></li></ul></div>"
    ),
    "OEBPS/text/four.xhtml": page("<h1>The Long One</h1><p>Begins here<p>and is unclosed"),
    "OEBPS/text/five.xhtml": page("<p>And goes on in another file.</p><script>evil()</script>"),
    "OEBPS/text/notes.xhtml": page(
        '<section epub:type="endnotes"><ol><li id="n1">The first note.</li></ol></section>'
    ),
    "OEBPS/nav.xhtml": NAV,
    "OEBPS/cover.png": PNG,
}
MANIFEST = """
  <item id="five" href="text/five.xhtml" media-type="application/xhtml+xml"/>
  <item id="four" href="text/four.xhtml" media-type="application/xhtml+xml"/>
  <item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>
  <item id="two" href="text/two.xhtml" media-type="application/xhtml+xml"/>
  <item id="one" href="text/one.xhtml" media-type="application/xhtml+xml"/>
  <item id="copyright" href="text/copyright.xhtml" media-type="application/xhtml+xml"/>
  <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
  <item id="cover" href="text/cover.xhtml" media-type="application/xhtml+xml"/>
  <item id="img" href="cover.png" media-type="image/png" properties="cover-image"/>"""
SPINE = """
  <itemref idref="cover"/><itemref idref="nav"/><itemref idref="copyright"/>
  <itemref idref="one"/><itemref idref="two"/><itemref idref="four"/><itemref idref="five"/>
  <itemref idref="notes" linear="no"/>"""
METADATA = """
    <dc:title>A Test of Books</dc:title>
    <dc:creator id="ed">Ed Itor</dc:creator>
    <meta refines="#ed" property="role" scheme="marc:relators">edt</meta>
    <dc:creator id="au">Ann Author</dc:creator>
    <meta refines="#au" property="role" scheme="marc:relators">aut</meta>
    <dc:language>en-GB</dc:language>"""


def epub3(tmp_path: Path, changes: dict[str, str | bytes] | None = None) -> Path:
    files: dict[str, str | bytes] = {
        "OEBPS/content.opf": opf(MANIFEST, SPINE, METADATA),
        **CHAPTERS,
        **(changes or {}),
    }
    return write_epub(tmp_path / "book.epub", files)


def load(path: Path, **options: bool | int) -> Book:
    return load_book(path, ParseOptions(**options))  # type: ignore[arg-type]


def test_chapters_follow_the_spine_and_the_nav(tmp_path: Path) -> None:
    book = load(epub3(tmp_path))
    assert [c.title for c in book.chapters] == [
        "The Beginning",
        "The Second Part",
        "The Third Part",
        "The Long One",
    ]
    assert [c.index for c in book.chapters] == [1, 2, 3, 4]
    first, second, third, long = (c.text for c in book.chapters)
    assert first.split("\n")[0] == "The Beginning."
    assert "A detail.\nDetails matter." in first  # a nested section stays in its chapter
    assert first.endswith("Still the first chapter, before any anchor.")
    assert second.startswith("The Second Part.\nSecond text.")
    assert third.startswith("The Third Part.")
    assert long == "The Long One.\nBegins here.\nand is unclosed.\nAnd goes on in another file."


def test_front_matter_is_skipped_with_one_warning(tmp_path: Path) -> None:
    book = load(epub3(tmp_path))
    text = "\n".join(c.text for c in book.chapters)
    assert "All rights reserved" not in text
    assert "Contents" not in text
    assert book.warnings == (
        "skipped cover, table of contents, copyright (3 files) as front matter",
    )


def test_metadata_and_cover(tmp_path: Path) -> None:
    book = load(epub3(tmp_path))
    assert (book.title, book.author, book.language) == ("A Test of Books", "Ann Author", "en-GB")
    assert book.cover == (PNG, "image/png")
    assert len(book.chapters[0].text_sha256) == 64


def test_notes_links_and_images(tmp_path: Path) -> None:
    path = epub3(tmp_path)
    first = load(path).chapters[0].text
    assert "It began on a Tuesday, as these things do." in first
    assert "nobody hears" not in first and "The first note" not in first
    assert "Read the old letters first." in first
    assert "example.com" not in first
    assert "A picture: there." in first
    assert "A picture: a red lighthouse there." in load(path, image_alt_text=True).chapters[0].text


def test_tables_lists_code_and_scripts(tmp_path: Path) -> None:
    book = load(epub3(tmp_path))
    second, third = book.chapters[1].text, book.chapters[2].text
    assert "Name: Ann, Age: 12.\nName: Bob, Age: 9." in second
    assert "print" not in second
    assert third == "The Third Part.\nApples.\nPears.\nGreen."
    assert "evil" not in book.chapters[3].text


def test_heading_level_chooses_the_nav_depth(tmp_path: Path) -> None:
    book = load(epub3(tmp_path), heading_level=2)
    assert [c.title for c in book.chapters][:2] == ["The Beginning", "A detail"]


EPUB2_OPF = opf(
    """
  <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
  <item id="title" href="title.html" media-type="application/xhtml+xml"/>
  <item id="c1" href="c1.html" media-type="application/xhtml+xml"/>
  <item id="c2" href="c2.html" media-type="application/xhtml+xml"/>
  <item id="cover-jpg" href="images/cover.jpg" media-type="image/jpeg"/>""",
    '<itemref idref="title"/><itemref idref="c2"/><itemref idref="c1"/>',
    """
    <dc:title>Old Style</dc:title>
    <dc:creator opf:role="ill">Pic Drawer</dc:creator>
    <dc:creator opf:role="aut">Real Writer</dc:creator>
    <dc:language>fr</dc:language>
    <meta name="cover" content="cover-jpg"/>""",
    version="2.0",
)
NCX = """<?xml version="1.0"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>
  <navPoint id="a" playOrder="1"><navLabel><text>Premier</text></navLabel>
    <content src="c2.html"/></navPoint>
  <navPoint id="b" playOrder="2"><navLabel><text>Second</text></navLabel>
    <content src="c1.html"/></navPoint>
</navMap></ncx>"""


def epub2(tmp_path: Path) -> Path:
    return write_epub(
        tmp_path / "old.epub",
        {
            "OEBPS/content.opf": EPUB2_OPF,
            "OEBPS/toc.ncx": NCX,
            "OEBPS/title.html": "<html><body><h1>Old Style</h1><p>A title page.</p></body></html>",
            "OEBPS/c1.html": "<html><body><h2>Second</h2><p>Deux.</p></body></html>",
            "OEBPS/c2.html": "<html><body><p>Un.</p></body></html>",
            "OEBPS/images/cover.jpg": b"\xff\xd8\xff\xe0jpeg",
        },
    )


def test_epub2_with_ncx_and_meta_cover(tmp_path: Path) -> None:
    book = load(epub2(tmp_path))
    assert [(c.title, c.text) for c in book.chapters] == [
        ("Premier", "Premier.\nUn."),
        ("Second", "Second.\nDeux."),
    ]
    assert (book.title, book.author, book.language) == ("Old Style", "Real Writer", "fr")
    assert book.cover == (b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
    assert book.warnings == ("skipped unlisted page (1 file) as front matter",)


def test_without_a_usable_toc_each_document_is_a_chapter(tmp_path: Path) -> None:
    nav = page('<nav epub:type="toc"><ol><li><a href="http://x.org/">Away</a></li></ol></nav>')
    book = load(epub3(tmp_path, {"OEBPS/nav.xhtml": nav}))
    titles = ["The Beginning", "The Second Part", "The Long One", "Chapter 4"]
    assert [c.title for c in book.chapters] == titles
    assert book.chapters[1].text.startswith(
        "Still the first chapter, before any anchor.\nThe Second Part."
    )
    assert book.chapters[3].text.startswith("Chapter ")  # its title said first
    assert book.chapters[3].text.endswith(".\nAnd goes on in another file.")


def test_malformed_xhtml_still_reads(tmp_path: Path) -> None:
    broken = "<html><body><h1>Broken<p>Unclosed <b>bold <i>text</body>"
    book = load(epub3(tmp_path, {"OEBPS/text/five.xhtml": broken}))
    assert book.chapters[-1].text.endswith("Broken.\nUnclosed bold text.")


def broken(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "broken.epub"
    good = {"OEBPS/content.opf": opf(MANIFEST, SPINE, METADATA), **CHAPTERS}
    if case == "not a zip":
        path.write_bytes(b"PK but not really a zip archive")
    elif case == "no container":
        write_epub(path, good, container=None)
    elif case == "no opf":
        write_epub(path, {k: v for k, v in good.items() if not k.endswith(".opf")})
    elif case == "spine item missing":
        write_epub(path, {k: v for k, v in good.items() if not k.endswith("two.xhtml")})
    elif case == "bad container xml":
        write_epub(path, good, container="<container><rootfiles>")
    elif case == "bad opf xml":
        write_epub(path, {**good, "OEBPS/content.opf": "<package><manifest>"})
    elif case == "zip bomb":
        write_epub(path, {**good, "OEBPS/text/five.xhtml": b" " * (8 * 2**20)})
    return path


BROKEN = {
    "not a zip": "not an EPUB",
    "no container": "container META-INF/container.xml is missing",
    "no opf": "package document OEBPS/content.opf is missing",
    "spine item missing": "spine item OEBPS/text/two.xhtml is missing",
    "bad container xml": "container META-INF/container.xml is malformed XML",
    "bad opf xml": "package document OEBPS/content.opf is malformed XML",
    "zip bomb": "refused as a zip bomb",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_epub_is_a_document_error(tmp_path: Path, case: str) -> None:
    path = broken(tmp_path, case)
    with pytest.raises(DocumentError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert BROKEN[case] in message
    assert "\n" not in message


@pytest.mark.parametrize("case", ["no opf", "bad opf xml", "zip bomb"])
def test_dry_run_reports_a_broken_epub_in_one_line(tmp_path: Path, case: str) -> None:
    path = broken(tmp_path, case)
    result = run_cli(path, "--dry-run", "--out", tmp_path / "out")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "broken.epub" in lines[0] and BROKEN[case] in lines[0]


def test_narrating_an_epub_writes_one_file_per_chapter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(epub3(tmp_path), "--out", out)
    assert result.exit_code == 0, result.output
    assert len(sorted(out.rglob("*.mp3"))) == 4


def test_the_books_own_cover_is_used_unless_one_is_given(tmp_path: Path) -> None:
    from mutagen.id3 import ID3

    book = epub3(tmp_path)
    out = tmp_path / "out"
    result = run_cli(book, "--out", out, "--max-segment-chars", "0")
    assert result.exit_code == 0, result.output
    first = sorted(out.glob("*.mp3"))[0]
    (picture,) = ID3(first).getall("APIC")
    assert picture.data == PNG and picture.mime == "image/png"
    assert (out / "cover.png").read_bytes() == PNG
