"""Turn Markdown tokens, or plain-text lines, into exactly the words a narrator should say.

The output format is a contract with the chunker: one paragraph per line (headings, paragraphs,
list items and table rows are each a paragraph), single spaces inside a paragraph, and every
paragraph ends with terminal punctuation so a sentence boundary always falls between them.
Nothing that a voice would read as noise survives: no Markdown symbols, URLs, code or HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

from narrator.settings import ParseOptions

# Inline code is kept only when it reads as words ("the `yield from` statement", "`asyncio`"):
# anything with brackets, slashes or operators would be spoken as a string of symbol names.
_PLAIN_CODE = re.compile(r"[\w .-]+")
# Every repeat below is bounded or stops at the character that starts the next attempt, so
# no pattern rescans a paragraph once per attempt: a hostile 1 MB paragraph costs one pass.
# A scheme is at most 32 characters long: "a.a.a.a...://" no longer scans to the end each time.
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]{0,31}://|\bwww\.)\S*", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"\[\^[^\]\[\s]*\]")  # "[" ends a failed attempt: "[^[^[^..."
# Arguments are bounded, since "\a{\a{\a{..." would scan on for "}" from every backslash.
_LATEX_MACRO = re.compile(r"\\[A-Za-z]+(?:\[[^\]]{0,200}\])?(?:\{[^}]{0,200}\})+")
_SYMBOLS = re.compile(r"[*#|<>`~\\]+")
# The second branch starts only at the start of a run ("_" is \w): a run either ends a word
# or not, and trying it from every underscore of "a____...a" made it quadratic.
_LOOSE_UNDERSCORE = re.compile(r"(?<!\w)_+|(?<!_)_+(?!\w)")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,;:!?])")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_TERMINAL = ".!?…"
_CLOSERS = "\"'”’»)]"

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# A tag's start; the tag runs to the next ">". Matching "[^>]*?>" in one pattern rescanned
# the rest of the text from every "<" of "<a<a<a..." (see _tags).
_TAG_START = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b")
# fmt: off
_VOID_TAGS = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
))
# Formatting tags: their text is part of the sentence, so only the tags themselves go.
_INLINE_TAGS = frozenset((
    "a", "abbr", "b", "bdi", "bdo", "cite", "data", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "mark", "q", "s", "small", "span", "strong", "sub", "sup", "time", "u", "var",
    "details",
))
# fmt: on


def is_speakable(text: str) -> bool:
    """Text with at least one letter or digit; emoji and punctuation alone say nothing."""
    return any(char.isalnum() for char in text)


def join_paragraphs(paragraphs: Iterable[str]) -> str:
    """The chapter text in the format the chunker expects."""
    return "\n".join(paragraphs)


def finish_paragraph(text: str) -> str | None:
    """Clean one paragraph of leftover symbols; ``None`` when nothing speakable is left."""
    # The guards skip regex passes that prose rarely needs: they dominate on big books.
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL.sub(" ", text)
    if "[" in text or "(" in text:
        text = _EMPTY_BRACKETS.sub(" ", _FOOTNOTE_MARK.sub(" ", text))
    text = _SYMBOLS.sub(" ", text)
    if "_" in text:
        text = _LOOSE_UNDERSCORE.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))
    if not is_speakable(text):
        return None
    core = text.rstrip(_CLOSERS)
    if core and core[-1] in _TERMINAL:
        return text
    if core and core[-1] in ",;:-–—" and core == text:
        text = text[:-1].rstrip()
    return text + "."


def heading_title(inline: Token) -> str:
    """A heading as a title: inline text without markup; code spans keep their content."""
    renderer = _InlineRenderer(ParseOptions(), title=True)
    return " ".join(renderer.render(inline.children or []).split())


@dataclass
class _HtmlDepth:
    """How many raw HTML elements (not formatting tags) are open around the current text.

    Markdown inside ``<div>``, ``<aside>`` or a custom wrapper is page layout: sponsor
    tables, badges, pull quotes, author bios. Tracking it across tokens lets us leave all of
    it out, even when the wrapper opens in one block and closes in a later paragraph.
    """

    depth: int = 0

    def feed(self, html: str) -> None:
        for closing, name, self_closing in _tags(_HTML_COMMENT.sub("", html)):
            name = name.lower()
            if name in _VOID_TAGS or name in _INLINE_TAGS or self_closing:
                continue
            self.depth = max(0, self.depth - 1) if closing else self.depth + 1


def _tags(html: str) -> Iterator[tuple[str, str, str]]:
    """What ``re.findall(r"<(/?)(name)\\b[^>]*?(/?)>")`` finds, in one pass: a tag can only
    end at the first ">" after it, so each stretch up to a ">" holds at most one tag, the one
    starting at its first tag start."""
    stretches = html.split(">")
    stretches.pop()  # not closed by a ">"
    for stretch in stretches:
        match = _TAG_START.search(stretch)
        if match:
            self_closing = "/" if stretch.endswith("/") and len(stretch) > match.end() else ""
            yield match[1], match[2], self_closing


class _InlineRenderer:
    """Walks the children of one ``inline`` token and keeps what should be said."""

    def __init__(self, options: ParseOptions, title: bool = False, html: _HtmlDepth | None = None):
        self.options = options
        self.title = title
        self.html = html or _HtmlDepth()

    def render(self, children: Sequence[Token]) -> str:
        parts: list[str] = []
        link_start: list[int] = []
        for child in children:
            if child.type == "link_open":
                link_start.append(len(parts))
            elif child.type == "link_close" and link_start:
                start = link_start.pop()
                if _URL.search("".join(parts[start:])):
                    del parts[start:]  # an autolink or a link whose text is its address
            else:
                parts.append(self._piece(child))
        return "".join(parts)

    def _piece(self, child: Token) -> str:
        if child.type == "html_inline":
            self.html.feed(child.content)
            return " " if child.content.lower().startswith("<br") else ""
        if self.html.depth:
            return ""
        if child.type == "text":
            content = child.content
            return _LATEX_MACRO.sub(" ", content) if "\\" in content else content
        if child.type in ("softbreak", "hardbreak"):
            return " "
        if child.type == "code_inline":
            keep = self.title or _PLAIN_CODE.fullmatch(child.content)
            return child.content if keep else " "
        if child.type == "image" and self.options.image_alt_text and not self.title:
            return " " + self.render(child.children or []) + " "
        return ""  # emphasis markers, footnote references, images without alt text


def _is_navigation(children: Sequence[Token]) -> bool:
    """A paragraph of nothing but links to anchors in the same page (a table of contents)."""
    depth = 0
    links = 0
    for child in children:
        if child.type == "link_open":
            if not str(child.attrGet("href") or "").startswith("#"):
                return False
            depth += 1
            links += 1
        elif child.type == "link_close":
            depth -= 1
        elif depth == 0 and child.type == "text" and is_speakable(child.content):
            return False
    return links > 0


class _BlockRenderer:
    """Walks the block tokens of a chapter and yields its spoken paragraphs in order."""

    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self.html = _HtmlDepth()
        self.inline = _InlineRenderer(options, html=self.html)

    def render(self, tokens: Sequence[Token]) -> list[str]:
        paragraphs: list[str] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.type in ("footnote_block_open", "table_open"):
                closing = token.type.replace("_open", "_close")
                end = _find(tokens, closing, index)
                if token.type == "table_open":
                    paragraphs.extend(self._table(tokens[index:end]))
                index = end
            elif token.type == "heading_open":
                self.html.depth = 0  # an unclosed tag never swallows more than one section
                paragraphs.extend(self._heading(tokens[index + 1]))
                index += 2
            elif token.type == "html_block":
                self.html.feed(token.content)
            elif token.type == "inline":
                paragraphs.extend(self._paragraph(token))
            index += 1
        return paragraphs

    def _heading(self, inline: Token) -> list[str]:
        text = finish_paragraph(heading_title(inline))
        return [text] if text else []

    def _paragraph(self, inline: Token) -> list[str]:
        children = inline.children or []
        if not self.html.depth and _is_navigation(children):
            return []
        text = finish_paragraph(self.inline.render(children))
        return [text] if text else []

    def _table(self, tokens: Sequence[Token]) -> list[str]:
        headers: list[str] = []
        rows: list[list[str]] = []
        for token in tokens:
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline" and rows:
                cell = " ".join(self.inline.render(token.children or []).split())
                rows[-1].append(cell)
        if rows and any(t.type == "thead_open" for t in tokens):
            headers = rows.pop(0)
        return [text for row in rows if (text := self._row(headers, row))]

    @staticmethod
    def _row(headers: Sequence[str], row: Sequence[str]) -> str | None:
        cells = []
        for position, cell in enumerate(row):
            if not is_speakable(cell):
                continue
            header = headers[position] if position < len(headers) else ""
            cells.append(f"{header}: {cell}" if is_speakable(header) else cell)
        return finish_paragraph(", ".join(cells))


def _find(tokens: Sequence[Token], kind: str, start: int) -> int:
    for index in range(start, len(tokens)):
        if tokens[index].type == kind:
            return index
    return len(tokens) - 1


class MarkdownSpeech:
    """The spoken paragraphs of a run of block tokens (headings included, in order), which may
    arrive in several parts.

    Each part must hold whole top-level blocks (a table or a footnote block is never cut):
    then feeding the parts one by one says exactly what feeding all of them at once says.
    ``html_depth`` is the one thing carried from part to part, and from one run to the next
    when a heading between them is not spoken: raw HTML elements left open, inside which
    nothing is said.
    """

    def __init__(self, options: ParseOptions, html_depth: int = 0) -> None:
        self._renderer = _BlockRenderer(options)
        self._renderer.html.depth = html_depth
        self.paragraphs: list[str] = []

    @property
    def html_depth(self) -> int:
        return self._renderer.html.depth

    def feed(self, tokens: Sequence[Token]) -> None:
        self.paragraphs.extend(self._renderer.render(tokens))


# --- plain text -----------------------------------------------------------------------------

_ASTERISM = re.compile(r"(?:\*\s*){3,}|(?:-\s*){3,}")
_ILLUSTRATION = re.compile(r"\[Illustration\b", re.IGNORECASE)
# A numeral alone ("II.") numbers the parts of a story; said aloud it is just a letter.
_BARE_NUMERAL = re.compile(r"[IVXLC]+\.")


def speak_plain(lines: Sequence[str]) -> list[str]:
    """Hard-wrapped plain text as paragraphs: a blank line is the only paragraph break."""
    paragraphs: list[str] = []
    block: list[str] = []
    for line in [*remove_illustrations(lines), ""]:
        stripped = line.strip()
        if stripped and not _ASTERISM.fullmatch(stripped):
            block.append(stripped)
        elif block:
            # Gutenberg marks italics with underscores, even inside words ("_Un_important").
            text = finish_paragraph(" ".join(block).replace("_", ""))
            if text and not _BARE_NUMERAL.fullmatch(text):
                paragraphs.append(text)
            block = []
    return paragraphs


def remove_illustrations(
    lines: Sequence[str], keep: Callable[[list[str]], str | None] | None = None
) -> list[str]:
    """Blank out ``[Illustration: ...]`` blocks, which may span lines and nest brackets.

    Lines become blanks (never joined), so a caption that is never closed costs only its own
    line and the text after it is still read. ``keep`` sees a caption's non-blank lines and
    may return a line to put in its place: some editions hide a chapter heading there.
    """
    out = list(lines)
    index, column = 0, 0  # where to look next; before it, out[index] is said by ``kept``
    kept: list[str] = []  # (built in pieces, not by joining prefix and tail once per caption:
    while index < len(out):  # a line of many captions would be copied once for each)
        line = out[index]
        match = _ILLUSTRATION.search(line, column)
        if match is None:
            if column:
                out[index] = "".join(kept) + line[column:]
            index, column, kept = index + 1, 0, []
            continue
        kept.append(line[column : match.start()])
        end = _illustration_end(out, index, match.start())
        if end is None:  # never closed: the rest of its line goes
            out[index] = "".join(kept)
            index, column, kept = index + 1, 0, []
            continue
        line_end, after = end
        heading = keep(_caption(out, index, end, match.start())) if keep else None
        if heading is not None:
            out[index : line_end + 1] = [""] * (line_end - index) + [heading]
            index, column, kept = line_end + 1, 0, []
        elif line_end == index:
            column = after  # the tail may hold another one
        else:
            out[index:line_end] = ["".join(kept)] + [""] * (line_end - index - 1)
            index, column, kept = line_end, after, []
    return out


def _caption(lines: Sequence[str], first: int, end: tuple[int, int], start: int) -> list[str]:
    last, stop = end  # sliced once: a line of many captions is not copied for each
    if last == first:
        block = [lines[first][start : stop - 1]]
    else:
        block = [lines[first][start:], *lines[first + 1 : last], lines[last][: stop - 1]]
    block[0] = block[0].removeprefix("[Illustration").removeprefix(":")
    return [line.strip() for line in block if line.strip()]


def _illustration_end(lines: Sequence[str], start: int, column: int) -> tuple[int, int] | None:
    """Where the bracket opened at ``lines[start][column]`` closes: (line, column after)."""
    depth = 0
    for number in range(start, min(len(lines), start + 40)):
        text = lines[number]
        for position in range(column if number == start else 0, len(text)):
            if text[position] == "[":
                depth += 1
            elif text[position] == "]":
                depth -= 1
                if depth == 0:
                    return number, position + 1
    return None
