"""Which service a run talks to: the real one, or narrator's own server started on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from narrator.errors import UsageError
from narrator.events import EventSink, Notice
from narrator.settings import RunSettings, ServiceSettings


def check_engine(settings: RunSettings) -> None:
    """Refuse at once a format the chosen engine cannot make."""
    fmt = settings.speech.output_format
    if settings.service.engine == "local":
        from narrator.local import LOCAL_FORMATS

        if fmt not in LOCAL_FORMATS:
            raise UsageError(
                f"the local engine cannot make {fmt}; it makes mp3_*, pcm_* and ulaw_8000 "
                "(the other formats need the ElevenLabs engine)"
            )


@contextlib.asynccontextmanager
async def engine(service: ServiceSettings, emit: EventSink) -> AsyncIterator[ServiceSettings]:
    """The service to talk to: the real one, or the embedded server started on loopback."""
    if service.engine != "local":
        yield service
        return
    from narrator.local import LocalServer, ServerOptions

    emit(
        Notice(
            "narrating offline with the local engine (eSpeak NG); for ElevenLabs give a key "
            "with --api-key, ELEVENLABS_API_KEY or .env"
        )
    )
    async with LocalServer(host="127.0.0.1", port=0, options=ServerOptions()) as server:
        yield replace(service, base_url=server.url, api_key=None)
