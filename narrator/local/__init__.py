"""narrator's own ElevenLabs-compatible stream-input server, voiced offline by eSpeak NG.

Public: :class:`LocalServer` (an async context manager serving on a host and port),
:class:`ServerOptions` and :class:`ServerStats`, and ``LOCAL_FORMATS``. ``serve_in_thread`` is
test and benchmark support, kept here so that the tests and the benchmarks run the very
server users get: it serves on its own loop in a background thread, for callers (a CLI under
test) that own their event loop.
"""

from narrator.local.encode import FORMATS
from narrator.local.options import ServerOptions, ServerStats
from narrator.local.server import LocalServer, serve_in_thread

#: The output formats the local engine can make (it has no Opus or A-law encoder).
LOCAL_FORMATS = tuple(FORMATS)

__all__ = ["LOCAL_FORMATS", "LocalServer", "ServerOptions", "ServerStats", "serve_in_thread"]
