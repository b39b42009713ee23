"""The sans-I/O protocol module, with literal messages as the protocol notes give them."""

from __future__ import annotations

import base64
import json

import pytest

from narrator.errors import (
    AuthenticationError,
    BrokenStreamError,
    ConcurrencyLimitError,
    ConnectionDroppedError,
    FatalServiceError,
    ModelRefusedError,
    PlanRefusedError,
    QuotaExceededError,
    RateLimitedError,
    ServiceError,
    TransientServiceError,
    VoiceNotFoundError,
)
from narrator.service import protocol
from narrator.service.policy import classify
from narrator.service.pool import Action
from narrator.settings import SpeechSettings, VoiceSettings


def test_url_carries_model_format_and_timeout_but_never_a_key() -> None:
    speech = SpeechSettings(
        voice_id="voice1", model_id="eleven_flash_v2_5", output_format="pcm_16000"
    )
    url = protocol.session_url("wss://api.eu.residency.elevenlabs.io", speech, 60)
    assert url == (
        "wss://api.eu.residency.elevenlabs.io/v1/text-to-speech/voice1/stream-input"
        "?model_id=eleven_flash_v2_5&output_format=pcm_16000&inactivity_timeout=60"
    )
    assert "key" not in url


def test_url_keeps_a_base_path_and_accepts_plain_ws() -> None:
    url = protocol.session_url("ws://127.0.0.1:8765/proxy/", SpeechSettings(voice_id="v"), 20)
    assert url.startswith("ws://127.0.0.1:8765/proxy/v1/text-to-speech/v/stream-input?")


def test_url_refuses_http_base() -> None:
    with pytest.raises(ValueError, match="ws://"):
        protocol.session_url("https://api.elevenlabs.io", SpeechSettings(), 20)


def test_key_goes_in_the_xi_api_key_header() -> None:
    assert protocol.session_headers("sk_secret") == {"xi-api-key": "sk_secret"}
    assert protocol.session_headers(None) == {}


def test_initial_message_sends_only_the_voice_settings_the_user_gave() -> None:
    speech = SpeechSettings(
        voice=VoiceSettings(stability=0.3, speed=1.1, use_speaker_boost=False),
        chunk_schedule=(50, 120),
    )
    message = json.loads(protocol.initial_message(speech))
    assert message == {
        "text": " ",
        "voice_settings": {"stability": 0.3, "use_speaker_boost": False, "speed": 1.1},
        "generation_config": {"chunk_length_schedule": [50, 120]},
    }


def test_without_voice_settings_the_voices_own_apply() -> None:
    message = json.loads(protocol.initial_message(SpeechSettings()))
    assert "voice_settings" not in message
    assert message["text"] == " "


def test_the_settings_hash_records_exactly_what_is_sent() -> None:
    assert SpeechSettings().sha256 != SpeechSettings(voice=VoiceSettings(speed=1.0)).sha256
    assert SpeechSettings(seed=1).sha256 != SpeechSettings(seed=2).sha256
    assert SpeechSettings(language_code="de").sha256 != SpeechSettings().sha256


def test_pronunciation_dictionaries_go_in_the_first_message() -> None:
    speech = SpeechSettings(pronunciation_dictionaries=(("dictA", "v1"), ("dictB", None)))
    message = json.loads(protocol.initial_message(speech))
    assert message["pronunciation_dictionary_locators"] == [
        {"pronunciation_dictionary_id": "dictA", "version_id": "v1"},
        {"pronunciation_dictionary_id": "dictB"},
    ]


def test_seed_language_and_normalization_are_query_parameters() -> None:
    speech = SpeechSettings(voice_id="v", seed=42, language_code="hi", text_normalization="on")
    query = protocol.session_url("wss://api.elevenlabs.io", speech, 20).split("?", 1)[1]
    assert "seed=42" in query and "language_code=hi" in query
    assert "apply_text_normalization=on" in query
    bare = protocol.session_url("wss://api.elevenlabs.io", SpeechSettings(voice_id="v"), 20)
    assert "seed" not in bare and "language_code" not in bare and "normalization" not in bare


def test_text_messages_end_with_a_space_and_only_the_last_flushes() -> None:
    assert json.loads(protocol.text_message("Hello there.")) == {"text": "Hello there. "}
    assert json.loads(protocol.text_message("End. ", flush=True)) == {
        "text": "End. ",
        "flush": True,
    }
    assert "try_trigger_generation" not in protocol.text_message("x")
    assert json.loads(protocol.END_OF_STREAM) == {"text": ""}
    assert not hasattr(protocol, "KEEP_ALIVE")  # a keep-alive space is spoken: never sent


def test_audio_frame_with_null_is_final_and_alignment() -> None:
    frame = json.dumps(
        {
            "audio": base64.b64encode(b"\xff\xfbabc").decode(),
            "isFinal": None,
            "normalizedAlignment": {
                "chars": ["H", "i"],
                "charStartTimesMs": [0, 50],
                "charDurationsMs": [50, 60],
            },
            "alignment": {
                "chars": ["H", "i"],
                "charStartTimesMs": [0, 50],
                "charsDurationsMs": [50, 60],
            },
        }
    )
    event = protocol.parse_message(frame)
    assert isinstance(event, protocol.AudioChunk)
    assert event.audio == b"\xff\xfbabc"
    assert event.alignment == protocol.Alignment(("H", "i"), (0, 50), (50, 60))
    assert event.normalized_alignment is not None


@pytest.mark.parametrize("is_final", [None, False])
def test_audio_frame_is_final_variants_and_null_alignment(is_final: bool | None) -> None:
    frame = {"audio": base64.b64encode(b"x").decode(), "alignment": None}
    if is_final is not None:
        frame["isFinal"] = is_final
    event = protocol.parse_message(json.dumps(frame))
    assert isinstance(event, protocol.AudioChunk)
    assert event.alignment is None


def test_final_message() -> None:
    final = '{"audio": null, "isFinal": true, "normalizedAlignment": null, "alignment": null}'
    assert isinstance(protocol.parse_message(final), protocol.Final)


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (
            {"message": "Invalid API key", "error": "invalid_api_key", "code": 1008},
            AuthenticationError,
        ),
        (
            {
                "message": "None of the authentication methods were found.",
                "error": "authentication_required",
                "code": 1008,
            },
            AuthenticationError,
        ),
        (
            {"message": "out of credits", "error": "quota_exceeded", "code": 1008},
            QuotaExceededError,
        ),
        (
            {"message": "busy", "error": "too_many_concurrent_requests", "code": 1008},
            ConcurrencyLimitError,
        ),
        ({"message": "busy", "error": "system_busy", "code": 1008}, RateLimitedError),
        ({"message": "no voice", "error": "voice_not_found", "code": 1008}, VoiceNotFoundError),
        (
            {
                "message": "Have not received a new text input",
                "error": "input_timeout_exceeded",
                "code": 1008,
            },
            TransientServiceError,
        ),
        (
            {"message": "We are sorry, something went wrong.", "code": 1011},
            TransientServiceError,
        ),
    ],
)
def test_error_frames_are_classified_by_name(frame: dict[str, object], kind: type) -> None:
    with pytest.raises(kind) as caught:
        protocol.parse_message(json.dumps(frame))
    assert caught.value.code == frame["code"]


def test_unreadable_input_message_error_is_not_retried() -> None:
    frame = {"message": "Could not parse", "error": "invalid_input_message", "code": 1008}
    with pytest.raises(ServiceError) as caught:
        protocol.parse_message(json.dumps(frame))
    assert classify(caught.value) is Action.FAIL
    assert not isinstance(caught.value, FatalServiceError)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b'{"audio": ""}',
        "[1, 2]",
        '{"audio": "***not base64***"}',
        '{"audio": 12}',
        '{"isFinal": "yes"}',
        '{"audio": "", "alignment": "nope"}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": [0, 1],'
        ' "charDurationsMs": [1]}}',
        '{"audio": "", "alignment": {"chars": "ab", "charStartTimesMs": [0, 1],'
        ' "charDurationsMs": [1, 1]}}',
        '{"audio": "", "alignment": {"chars": [1], "charStartTimesMs": [0],'
        ' "charDurationsMs": [1]}}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": ["0"],'
        ' "charDurationsMs": [1]}}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": [true],'
        ' "charDurationsMs": [1]}}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": [NaN],'
        ' "charDurationsMs": [1]}}',
        '{"audio": "", "alignment": {"chars": ["a", "b"], "charStartTimesMs": [0, -1],'
        ' "charDurationsMs": [1, 1]}}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": [0],'
        ' "charDurationsMs": [9007199254740992]}}',
        '{"audio": "", "alignment": {"chars": ["a"], "charStartTimesMs": [-0.5],'
        ' "charDurationsMs": [1]}}',
        "[" * 200_000 + "]" * 200_000,
    ],
    ids=lambda raw: repr(raw)[:40],
)
def test_a_frame_that_breaks_the_schema_is_a_broken_stream(raw: str | bytes) -> None:
    with pytest.raises(BrokenStreamError) as caught:
        protocol.parse_message(raw)
    assert classify(caught.value) is Action.FAIL
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_snake_case_fields_are_read() -> None:
    frame = {
        "audio": "AAAA",
        "is_final": None,
        "normalized_alignment": {
            "chars": ["a"],
            "char_start_times_ms": [0],
            "char_durations_ms": [5],
        },
    }
    event = protocol.parse_message(json.dumps(frame))
    assert isinstance(event, protocol.AudioChunk)
    assert event.normalized_alignment is not None
    assert event.normalized_alignment.duration_ms == (5,)
    assert isinstance(protocol.parse_message('{"is_final": true}'), protocol.Final)


def test_service_text_is_cut_to_one_short_line() -> None:
    frame = {"error": "x\ny", "message": "line one\nline two\x1b[31m" + "z" * 5000, "code": 1008}
    with pytest.raises(ServiceError) as caught:
        protocol.parse_message(json.dumps(frame))
    text = str(caught.value)
    assert "\n" not in text and "\x1b" not in text and len(text) < 400


def test_close_codes() -> None:
    assert protocol.error_from_close(1000, "", after_final=True) is None
    assert isinstance(
        protocol.error_from_close(1000, "", after_final=False), ConnectionDroppedError
    )
    assert isinstance(protocol.error_from_close(None, "", after_final=True), ConnectionDroppedError)
    internal = protocol.error_from_close(1011, "something went wrong", after_final=False)
    assert isinstance(internal, TransientServiceError) and internal.code == 1011
    assert classify(internal) is Action.RETRY


def test_handshake_refusals_are_mapped_by_their_body() -> None:
    body = json.dumps(
        {
            "detail": {
                "code": "unsupported_model",
                "message": "Model eleven_v3 is not supported on this endpoint.",
                "param": "model_id",
            }
        }
    ).encode()
    refused = protocol.error_from_handshake(400, body)
    assert isinstance(refused, ModelRefusedError)
    assert "Model eleven_v3 is not supported on this endpoint." in str(refused)
    voice = b'{"detail": {"code": "voice_id_does_not_exist", "message": "No voice x."}}'
    assert isinstance(protocol.error_from_handshake(404, voice), VoiceNotFoundError)
    paid = b'{"detail": {"status": "payment_required", "message": "Upgrade."}}'
    assert isinstance(protocol.error_from_handshake(402, paid), PlanRefusedError)
    assert isinstance(protocol.error_from_handshake(401, b""), AuthenticationError)
    assert isinstance(protocol.error_from_handshake(429, b""), RateLimitedError)
    assert classify(protocol.error_from_handshake(502, b"")) is Action.RETRY
    unknown = protocol.error_from_handshake(422, b'{"detail": "text must not be empty"}')
    assert classify(unknown) is Action.STOP and "text must not be empty" in str(unknown)


@pytest.mark.parametrize(
    ("frame", "action"),
    [
        (
            {
                "error": "voice_id_does_not_exist",
                "message": "A voice with voice_id x does not exist.",
            },
            Action.STOP,
        ),
        (
            {"error": "payment_required", "message": "Free users cannot use library voices"},
            Action.STOP,
        ),
        ({"error": "subscription_required", "message": "Subscribe"}, Action.STOP),
        ({"error": "unsupported_model", "message": "no"}, Action.STOP),
        ({"error": "input_timeout_exceeded", "message": "Have not received"}, Action.RETRY),
        ({"error": "system_busy", "message": "busy"}, Action.RETRY),
        ({"error": "too_many_concurrent_requests", "message": "busy"}, Action.RETRY_FEWER),
        ({"error": "max_character_limit_exceeded", "message": "too long"}, Action.FAIL),
        ({"error": "something_new", "message": "an unexplained refusal"}, Action.FAIL),
    ],
)
def test_only_what_is_known_to_pass_is_retried(frame: dict[str, object], action: Action) -> None:
    with pytest.raises(ServiceError) as caught:
        protocol.parse_message(json.dumps({**frame, "code": 1008}))
    assert classify(caught.value) is action
    assert str(frame["message"]) in str(caught.value)


@pytest.mark.parametrize(
    ("code", "reason", "action"),
    [
        (1008, "", Action.FAIL),  # a bare, unexplained 1008 is not paid for again
        (
            1008,
            "We are sorry, something went wrong. You are not charged for this request.",
            Action.RETRY,
        ),
        (1011, "anything", Action.RETRY),
        (
            1008,
            "This request exceeds your quota of 10000. You have 3 credits remaining.",
            Action.STOP,
        ),
        (None, "", Action.RETRY),
    ],
)
def test_closes_are_classified_by_reason_then_code(
    code: int | None, reason: str, action: Action
) -> None:
    error = protocol.error_from_close(code, reason, after_final=False)
    assert error is not None and classify(error) is action
