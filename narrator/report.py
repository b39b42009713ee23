"""The outcome of a run, and with it the whole exit-code policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narrator.output.folder import StaleFiles
    from narrator.output.manifest import ChapterEntry


@dataclass
class Report:
    """Counts and problems collected while the run goes on; failures are recorded, not raised.

    Exit codes: 0 everything asked for is done; 1 some chapters failed (the rest are done and
    recorded); 2 some documents could not be read (the others were narrated); 3 and 130 are
    raised as errors (the service refused the run; interrupted), not reported here.
    """

    done: int = 0
    skipped: int = 0
    reused: int = 0
    failed: int = 0
    pending: int = 0
    audio_seconds: float = 0.0
    characters_sent: int = 0
    wall_seconds: float = 0.0
    bad_documents: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stale_files: list[str] = field(default_factory=list)
    pruned_files: list[str] = field(default_factory=list)
    unverified_files: list[str] = field(default_factory=list)
    #: Set when the run's character budget left chapters to a later run.
    budget_note: str | None = None

    @classmethod
    def of(
        cls,
        narrated: Sequence[tuple[str, ChapterEntry]],
        unchanged: Sequence[tuple[ChapterEntry, bool]],
        *,
        bad_documents: list[str],
        stale: StaleFiles,
        wall_seconds: float,
    ) -> Report:
        """Read the counts off the manifests' entries, so nothing is counted twice.

        ``narrated`` are the chapters the run set out to narrate, with their labels;
        ``unchanged`` the rest, each with whether its file was renamed or retagged.
        """
        entries = [entry for _, entry in narrated]
        done = [entry for entry in entries if entry.status == "done"]
        return cls(
            done=len(done),
            skipped=len(unchanged),
            reused=sum(1 for _, moved in unchanged if moved),
            failed=sum(1 for entry in entries if entry.status == "failed"),
            pending=sum(1 for entry in entries if entry.status == "pending"),
            audio_seconds=sum(entry.duration_s or 0.0 for entry in done),
            characters_sent=sum(entry.characters for entry in entries),
            wall_seconds=wall_seconds,
            bad_documents=bad_documents,
            failures=[
                f"{label}: {entry.error}" for label, entry in narrated if entry.status == "failed"
            ],
            stale_files=stale.listed,
            pruned_files=stale.pruned,
            unverified_files=stale.unverified,
        )

    @property
    def exit_code(self) -> int:
        if self.failed or self.pending:
            return 1
        if self.bad_documents:
            return 2
        return 0

    def summary(self) -> str:
        minutes, seconds = divmod(round(self.audio_seconds), 60)
        hours, minutes = divmod(minutes, 60)
        lines = [
            f"done {self.done}, skipped {self.skipped}, failed {self.failed}"
            + (f" ({self.reused} unchanged chapter(s) renamed or retagged)" if self.reused else "")
            + (f", not done {self.pending}" if self.pending else ""),
            f"audio {hours:d}:{minutes:02d}:{seconds:02d}, "
            f"characters sent {self.characters_sent:,}, wall time {self.wall_seconds:.1f} s",
        ]
        lines += [f"failed: {line}" for line in self.failures]
        if self.budget_note:
            lines.append(self.budget_note)
        lines += [f"skipped document: {line}" for line in self.bad_documents]
        if self.stale_files:
            lines.append(
                f"{len(self.stale_files)} file(s) from chapters that no longer exist "
                "(--prune removes them): "
                + ", ".join(self.stale_files[:5])
                + (" ..." if len(self.stale_files) > 5 else "")
            )
        if self.pruned_files:
            lines.append(f"pruned {len(self.pruned_files)} file(s)")
        if self.unverified_files:
            lines.append(
                f"not pruned {len(self.unverified_files)} file(s) whose content is not what "
                "narrate recorded writing: " + ", ".join(self.unverified_files[:5])
            )
        return "\n".join(lines)
