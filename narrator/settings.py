"""Frozen, typed settings: the CLI builds them once and passes them down explicitly.

The core never reads the environment; :func:`find_api_key` is called by the CLI alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_BASE_URL = "wss://api.elevenlabs.io"
DEFAULT_VOICE = "JBFqnCBsd6RMkjVDRZzb"
DEFAULT_MODEL = "eleven_multilingual_v2"
DEFAULT_FORMAT = "mp3_44100_128"
DEFAULT_CHUNK_SCHEDULE = (120, 160, 250, 290)

#: Output formats of the stream-input endpoint, as the protocol notes list them.
OUTPUT_FORMATS = (
    "mp3_22050_32",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
)

#: Models billed at half a credit per character.
HALF_PRICE_MODEL_MARKERS = ("flash", "turbo")


@dataclass(frozen=True)
class ParseOptions:
    """How documents become chapters."""

    encoding: str | None = None
    heading_level: int | None = None
    image_alt_text: bool = False
    #: Pronunciation rules applied to every document's speech text (``--rules``).
    rules: Path | None = None
    #: Spell numbers, years, currency and abbreviations out, for engines that read digits
    #: poorly (the local one); the service normalises its own text.
    spell_numbers: bool = False


@dataclass(frozen=True)
class VoiceSettings:
    """The ``voice_settings`` the user gave; None leaves the voice's own stored setting.

    Sending a field overrides what a cloned or tuned voice keeps on the service, so only
    the fields the user set are sent (:meth:`given`).
    """

    stability: float | None = None
    similarity_boost: float | None = None
    style: float | None = None
    use_speaker_boost: bool | None = None
    speed: float | None = None

    def given(self) -> dict[str, float | bool]:
        return {name: value for name, value in asdict(self).items() if value is not None}


#: ``apply_text_normalization`` values the service accepts.
TEXT_NORMALIZATION = ("auto", "on", "off")
#: Pronunciation dictionaries the first message may carry.
MAX_DICTIONARIES = 3
#: The fastest ``speed`` the service allows: a voice's stored settings may use it.
FASTEST_SPEED = 1.2


@dataclass(frozen=True)
class SpeechSettings:
    """Everything that changes the audio of a chapter; its hash decides reruns."""

    voice_id: str = DEFAULT_VOICE
    model_id: str = DEFAULT_MODEL
    output_format: str = DEFAULT_FORMAT
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    chunk_schedule: tuple[int, ...] = DEFAULT_CHUNK_SCHEDULE
    seed: int | None = None
    language_code: str | None = None
    text_normalization: str | None = None
    #: (dictionary id, version id or None), at most :data:`MAX_DICTIONARIES`.
    pronunciation_dictionaries: tuple[tuple[str, str | None], ...] = ()

    @property
    def fastest_speed(self) -> float:
        """The fastest the voice may speak: the speed sent, else the fastest it may store."""
        return self.voice.speed if self.voice.speed is not None else FASTEST_SPEED

    @property
    def nominal_speed(self) -> float:
        """The speed for estimates: the one sent, else the service's default."""
        return self.voice.speed if self.voice.speed is not None else 1.0

    @property
    def sha256(self) -> str:
        """Of what is sent: settings left to the service (None) are left out, so adding an
        optional setting later does not make every chapter narrated before look changed."""
        sent = {key: value for key, value in asdict(self).items() if value not in (None, ())}
        sent["voice"] = self.voice.given()
        blob = json.dumps(sent, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ServiceSettings:
    """Where and how to connect; ``api_key`` is secret and never printed."""

    engine: str = "local"  # "elevenlabs" or "local" once resolved
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    inactivity_timeout: int = 20
    #: Seconds a handshake may take; the real one takes well under a second.
    open_timeout: float = 20.0
    #: Seconds a session may go without new audio before it is given up (first audio can
    #: come late when the service queues work); also the base of a session's whole deadline.
    stall_timeout: float = 120.0
    #: Seconds a session may wait for its first audio: over the plan's concurrency the
    #: service queues work instead of refusing it, so a session can wait its turn.
    queue_timeout: float = 600.0
    #: Seconds of failed connections, after an earlier success, before the run stops.
    unreachable_after: float = 60.0
    max_size: int = 16 * 2**20


@dataclass(frozen=True)
class OutputOptions:
    """What is made from the chapter files besides them: none of it changes the audio, so
    none of it is in the settings hash, and each can be added to a book narrated earlier."""

    #: Subtitle formats per chapter, from the word timings: "srt", "vtt".
    subtitles: tuple[str, ...] = ()
    #: One file for the whole book with chapters: "mp3" or "m4b".
    book_file: str | None = None
    #: Audiobookshelf's metadata.json beside the files.
    abs_metadata: bool = False
    #: Public base URL of the output folder: a podcast feed (feed.xml) is written for it.
    feed_url: str | None = None


@dataclass(frozen=True)
class RunSettings:
    """One ``narrate`` invocation."""

    paths: tuple[Path, ...]
    out: Path
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    parse: ParseOptions = field(default_factory=ParseOptions)
    concurrency: int = 4
    #: Longest segment a chapter is cut into; None: the model's default; 0: never cut.
    max_segment_chars: int | None = None
    #: Characters the run may send in all, retries included (None: no ceiling).
    max_characters: int | None = None
    retries: int = 5
    retry_delay: float = 1.0
    force: bool = False
    prune: bool = False
    dry_run: bool = False
    show_text: bool = False
    cover: Path | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)
    #: Options the user set for this run (flags, environment): a document's front matter
    #: does not override them.
    given: frozenset[str] = frozenset()

    @property
    def audio_sha256(self) -> str:
        """Speech settings plus the engine: local audio must not pass for the service's."""
        blob = f"{self.speech.sha256}:{self.service.engine}"
        return hashlib.sha256(blob.encode()).hexdigest()


def find_api_key(explicit: str | None, cwd: Path | None = None) -> str | None:
    """The key from the option, then ``ELEVENLABS_API_KEY``, then ``.env`` in the folder."""
    if explicit:
        return explicit
    from_env = os.environ.get("ELEVENLABS_API_KEY")
    if from_env:
        return from_env
    from dotenv import dotenv_values

    env_file = (cwd or Path.cwd()) / ".env"
    if env_file.is_file():
        value = dotenv_values(env_file).get("ELEVENLABS_API_KEY")
        if value:
            return value
    return None


def credit_cost(characters: int, model_id: str) -> float:
    """Credits for ``characters``: one each, half for flash and turbo models."""
    half = any(marker in model_id for marker in HALF_PRICE_MODEL_MARKERS)
    return characters * (0.5 if half else 1.0)
