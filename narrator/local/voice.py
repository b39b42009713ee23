"""Turn text into 16-bit mono PCM plus per-character timings: eSpeak NG, or a fast test tone.

eSpeak NG is loaded through ctypes from the ``espeakng-loader`` wheel, which ships both the
library and its data, so no system package is needed. Its word events give real timings, which
are spread over each word's characters to build the alignment the protocol sends.

Voice table (ElevenLabs premade voice id -> eSpeak voice); an eSpeak voice name such as
``en-gb`` or ``en-us+f2`` is accepted directly; anything else is a voice that does not exist,
which the session reports as the service does (``voice_id_does_not_exist``):

=======================  ===========  ================
voice id                 name         eSpeak voice
=======================  ===========  ================
JBFqnCBsd6RMkjVDRZzb     George       en-gb
21m00Tcm4TlvDq8ikWAM     Rachel       en-us+f3
EXAVITQu4vr4xnSDxMaL     Sarah        en-us+f2
pNInz6obpgDQGcFmaJgB     Adam         en-us+m3
ErXwobaYiN019PkySvjV     Antoni       en-us+m1
AZnzlk1XvdvUeBnXmlld     Domi         en-us+f1
MF3mGyEYCl7XYWbV9V6O     Elli         en-us+f4
TxGEqnHWrfWFTfGW9XjX     Josh         en-us+m2
VR6AewLTigWG4xSOukaG     Arnold       en-us+m7
yoZ06aMxZJJ28mfd3POQ     Sam          en-us+m4
onwK4e9ZLuTAKqWW03F9     Daniel       en-gb-x-rp
XB0fDUnXU5powFXDhCwa     Charlotte    en-gb+f3
IKne3meq5aSn9XLyUdCD     Charlie      en-gb+m2
=======================  ===========  ================
"""

from __future__ import annotations

import _ctypes
import ctypes
import itertools
import threading
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader

ESPEAK_RATE = 22050
DEFAULT_VOICE = "en-us"
DEFAULT_WPM = 175
#: Characters per second of the tone voice at speed 1.0: eSpeak's 175 wpm is about 14.5.
TONE_CHARS_PER_SECOND = 14.5

VOICE_TABLE: dict[str, str] = {
    "JBFqnCBsd6RMkjVDRZzb": "en-gb",
    "21m00Tcm4TlvDq8ikWAM": "en-us+f3",
    "EXAVITQu4vr4xnSDxMaL": "en-us+f2",
    "pNInz6obpgDQGcFmaJgB": "en-us+m3",
    "ErXwobaYiN019PkySvjV": "en-us+m1",
    "AZnzlk1XvdvUeBnXmlld": "en-us+f1",
    "MF3mGyEYCl7XYWbV9V6O": "en-us+f4",
    "TxGEqnHWrfWFTfGW9XjX": "en-us+m2",
    "VR6AewLTigWG4xSOukaG": "en-us+m7",
    "yoZ06aMxZJJ28mfd3POQ": "en-us+m4",
    "onwK4e9ZLuTAKqWW03F9": "en-gb-x-rp",
    "XB0fDUnXU5powFXDhCwa": "en-gb+f3",
    "IKne3meq5aSn9XLyUdCD": "en-gb+m2",
}

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1


@dataclass(frozen=True)
class Speech:
    """One generation's audio: ``samples`` at ``sample_rate``; ``pcm`` is None for silence.

    ``starts_ms``/``durations_ms`` give one entry per character of the text, relative to the
    start of this audio. Silence is left unmaterialised so that the tone voice can describe
    hours of audio without allocating it.
    """

    text: str
    sample_rate: int
    samples: int
    pcm: bytes | None
    starts_ms: list[int]
    durations_ms: list[int]

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples / self.sample_rate


def _voice_names() -> set[str]:
    """Every eSpeak language voice (``en-us``, ``fr``...) and variant (``f3``) name, lowercased."""
    data = Path(espeakng_loader.get_data_path())
    langs = {p.name.lower() for p in (data / "lang").rglob("*") if p.is_file()}
    variants = {p.name.lower() for p in (data / "voices" / "!v").glob("*") if p.is_file()}
    return langs | {f"+{v}" for v in variants}


_KNOWN = _voice_names()


def resolve_voice(voice_id: str) -> str | None:
    """Map a voice id to an eSpeak voice name; None when no such voice exists."""
    if voice_id in VOICE_TABLE:
        return VOICE_TABLE[voice_id]
    base, _, variant = voice_id.lower().partition("+")
    if base in _KNOWN and (not variant or f"+{variant}" in _KNOWN):
        return voice_id.lower()
    return None


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class Espeak:
    """eSpeak NG through ctypes. Not thread-safe: eSpeak keeps global state; one lock serialises.

    eSpeak's wave generator keeps state between utterances (pitch flutter, cycle counters),
    so the same text would not give the same samples twice. Reloading the shared library
    before each utterance resets every static variable: that costs a few milliseconds and
    buys byte-for-byte determinism.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._words: list[tuple[int, int]] = []  # (1-based text position, sample)
        self._callback = _Callback(self._on_audio)  # kept alive for the C side

    def _on_audio(
        self, wav: ctypes._Pointer[ctypes.c_short], n: int, events: ctypes._Pointer[_Event]
    ) -> int:
        if n > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, n * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._words.append((events[i].text_position, events[i].sample))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, speed: float) -> Speech:
        """Speak ``text`` with an eSpeak voice name; ``speed`` scales the 175 wpm rate."""
        encoded = text.encode("utf-8")
        with self._lock:
            self._chunks, self._words = [], []
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            try:
                lib.espeak_Initialize.argtypes = [
                    ctypes.c_int,
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_int,
                ]
                data = espeakng_loader.get_data_path().encode()
                lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 100, data, _INITIALIZE_DONT_EXIT)
                lib.espeak_SetSynthCallback(self._callback)
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    lib.espeak_SetVoiceByName(DEFAULT_VOICE.encode())
                lib.espeak_SetParameter(_PARAM_RATE, round(DEFAULT_WPM * speed), 0)
                lib.espeak_Synth(
                    ctypes.c_char_p(encoded), ctypes.c_size_t(len(encoded) + 1),
                    ctypes.c_uint(0), _POS_CHARACTER, ctypes.c_uint(0), ctypes.c_uint(_CHARS_UTF8),
                    None, None,
                )  # fmt: skip
                lib.espeak_Terminate()
            finally:
                handle = lib._handle
                del lib
                _ctypes.dlclose(handle)
            pcm = b"".join(self._chunks)
            words = list(self._words)
        samples = len(pcm) // 2
        starts, durations = spread_word_timings(len(text), words, samples, ESPEAK_RATE)
        return Speech(text, ESPEAK_RATE, samples, pcm, starts, durations)


def spread_word_timings(
    n_chars: int, words: list[tuple[int, int]], samples: int, rate: int
) -> tuple[list[int], list[int]]:
    """Per-character start and duration (ms) from word starts ``(1-based position, sample)``.

    Each word owns the characters from its first one to the next word's first one (its
    trailing spaces and punctuation included) and the time until the next word starts; the
    characters share that time evenly. Events that do not advance (a number read as several
    words) are merged into the word before, so times never go backwards.
    """
    anchors: list[tuple[int, int]] = [(0, 0)]
    for position, sample in words:
        index = min(max(position - 1, 0), n_chars)
        sample = min(max(sample, anchors[-1][1]), samples)
        if index > anchors[-1][0]:
            anchors.append((index, sample))
    anchors.append((n_chars, samples))
    starts: list[int] = []
    durations: list[int] = []
    for (first, begin), (end, stop) in itertools.pairwise(anchors):
        count = end - first
        for k in range(count):
            a = begin + (stop - begin) * k // count
            b = begin + (stop - begin) * (k + 1) // count
            starts.append(a * 1000 // rate)
            durations.append(b * 1000 // rate - a * 1000 // rate)
    return starts, durations


class ToneVoice:
    """A fast stand-in voice: silence of the length eSpeak would take, per-character timing.

    Per session it keeps the running character count, so rounding never drifts: after n
    characters exactly round(n * rate / cps) samples have been produced.
    """

    def __init__(self, sample_rate: int, speed: float) -> None:
        self.sample_rate = sample_rate
        self.cps = TONE_CHARS_PER_SECOND * speed
        self._chars = 0
        self._samples = 0

    def synthesize(self, text: str) -> Speech:
        first_sample = self._samples
        self._chars += len(text)
        self._samples = round(self._chars * self.sample_rate / self.cps)
        step = 1000.0 / self.cps
        starts = [round(i * step) for i in range(len(text))]
        durations = [round((i + 1) * step) - s for i, s in enumerate(starts)]
        return Speech(text, self.sample_rate, self._samples - first_sample, None, starts, durations)
