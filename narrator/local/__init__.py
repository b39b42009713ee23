"""narrator's own ElevenLabs-compatible stream-input server, voiced offline by eSpeak NG."""

from narrator.local.encode import FORMATS
from narrator.local.options import ServerOptions, ServerStats
from narrator.local.server import LocalServer, serve_in_thread

#: The output formats the local engine can make (it has no Opus or A-law encoder).
LOCAL_FORMATS = tuple(FORMATS)

__all__ = ["LOCAL_FORMATS", "LocalServer", "ServerOptions", "ServerStats", "serve_in_thread"]
