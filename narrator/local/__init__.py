"""narrator's own ElevenLabs-compatible stream-input server, voiced offline by eSpeak NG."""

from narrator.local.options import ServerOptions, ServerStats
from narrator.local.server import LocalServer, serve_in_thread

__all__ = ["LocalServer", "ServerOptions", "ServerStats", "serve_in_thread"]
