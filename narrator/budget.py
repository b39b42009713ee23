"""A ceiling on the characters one run sends to the service, retries included.

Every character sent is paid for, and a cron job must not spend a month's credits on a
folder that suddenly grew. Before a session starts, the characters it would send are
reserved; a segment whose text does not fit is not started and its chapter stays
``pending``, so the next run continues where this one stopped (with the pieces already
narrated kept). What a session actually sent replaces its reservation when it ends, so a
dropped session's unsent text is free again.
"""

from __future__ import annotations

from narrator.service.chunking import message_pieces


def characters_to_send(text: str) -> int:
    """Exactly what narrating ``text`` sends: the characters of its messages."""
    return sum(len(piece.text) for piece in message_pieces(text))


class Budget:
    """``limit`` characters for the run (None: no ceiling)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0
        self._reserved = 0
        #: Characters of text left unnarrated because they did not fit.
        self.held_back = 0

    def reserve(self, characters: int) -> bool:
        """Set ``characters`` aside for a session; False (and nothing set aside) when they
        would take the run past its limit."""
        if self.limit is not None and self.spent + self._reserved + characters > self.limit:
            self.held_back += characters
            return False
        self._reserved += characters
        return True

    def settle(self, reserved: int, sent: int) -> None:
        """A session ended having sent ``sent`` of the ``reserved`` characters."""
        self._reserved -= reserved
        self.spent += sent

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.spent, 0)
