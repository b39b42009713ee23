"""Text control end to end: pronunciation rules, heading numbers, spelled numbers, and each
document's own settings from its front matter."""

from __future__ import annotations

from pathlib import Path

from narrator.local import ServerOptions
from tests.helpers import read_manifest, run_cli, server_in_thread, service_args

GEORGE, RACHEL = "JBFqnCBsd6RMkjVDRZzb", "21m00Tcm4TlvDq8ikWAM"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def shown(*args: str | Path) -> str:
    result = run_cli(*args, "--dry-run", "--show-text")
    assert result.exit_code == 0, result.output
    return result.output


def test_rules_apply_to_the_spoken_text_as_whole_words(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.txt", "# names\nMara==Marra\ncat==kitten\n")
    book = write(tmp_path / "b.md", "# One\n\nMara fed the cat a concatenated meal.\n")
    out = shown(book, "--out", tmp_path / "o", "--rules", rules)
    assert "Marra fed the kitten a concatenated meal." in out


def test_a_bad_rule_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.txt", "ok==fine\n# comment\n(unclosed==x\n")
    book = write(tmp_path / "b.md", "# One\n\nText.\n")
    result = run_cli(book, "--out", tmp_path / "o", "--rules", rules, "--dry-run")
    assert result.exit_code == 2
    (line,) = [x for x in result.output.splitlines() if "rules.txt" in x]
    assert "rules.txt:3:" in line


def test_headings_say_their_numbers_and_the_local_engine_spells_numbers(tmp_path: Path) -> None:
    book = write(
        tmp_path / "b.md",
        "# Chapter XIV\n\nIn 1984 she paid $3.50 for 21 apples.\n\n# Chapter II\n\nI was there.\n",
    )
    out = shown(book, "--out", tmp_path / "o")
    assert "Chapter Fourteen." in out and "Chapter Two." in out
    assert "nineteen eighty-four" in out and "three dollars and fifty cents" in out
    assert "I was there." in out  # the pronoun stays


def test_changing_a_rule_renarrates_exactly_the_chapters_it_changes(tmp_path: Path) -> None:
    book = write(
        tmp_path / "b.md",
        "# One\n\nThe harbour was calm.\n\n# Two\n\nMara watched the lamp.\n",
    )
    rules = write(tmp_path / "rules.txt", "Mara==Marra\n")
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(voice_engine="tone")) as server:
        args = [*service_args(server), "--rules", str(rules)]
        assert run_cli(book, "--out", out, *args).exit_code == 0
        write(rules, "Mara==Mahra\n")
        before = server.stats.characters_received
        result = run_cli(book, "--out", out, *args)
        assert result.exit_code == 0, result.output
        again = server.stats.characters_received - before
    assert "done 1, skipped 1" in result.output
    assert 0 < again < 60


def test_each_document_is_narrated_with_its_own_front_matter(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write(docs / "a.md", f"---\nvoice: {RACHEL}\nspeed: 1.1\n---\n# A\n\nFirst story.\n")
    write(docs / "b.md", "# B\n\nSecond story.\n")
    out = tmp_path / "out"
    with server_in_thread(ServerOptions()) as server:
        result = run_cli(docs, "--out", out, *service_args(server))
        assert result.exit_code == 0, result.output
    a, b = read_manifest(out / "a")["engine"], read_manifest(out / "b")["engine"]
    assert a["voice_id"] == RACHEL and b["voice_id"] == GEORGE
    assert a["voice_settings"].get("speed") == 1.1 and "speed" not in b["voice_settings"]


def test_the_command_line_wins_over_front_matter(tmp_path: Path) -> None:
    book = write(tmp_path / "a.md", f"---\nvoice: {RACHEL}\n---\n# A\n\nStory.\n")
    out = tmp_path / "out"
    with server_in_thread(ServerOptions()) as server:
        result = run_cli(book, "--out", out, *service_args(server), "--voice", GEORGE)
        assert result.exit_code == 0, result.output
    assert read_manifest(out)["engine"]["voice_id"] == GEORGE


def test_a_bad_front_matter_setting_names_the_document_and_key(tmp_path: Path) -> None:
    book = write(tmp_path / "a.md", "---\nspeed: fast\n---\n# A\n\nStory.\n")
    result = run_cli(book, "--out", tmp_path / "o", "--dry-run")
    assert result.exit_code == 2
    assert "a.md" in result.output and "speed" in result.output


def test_front_matter_rules_beside_the_document(tmp_path: Path) -> None:
    write(tmp_path / "names.rules", "Mara==Marra\n")
    book = write(tmp_path / "a.md", "---\nrules: names.rules\n---\n# A\n\nMara sang.\n")
    assert "Marra sang." in shown(book, "--out", tmp_path / "o")
