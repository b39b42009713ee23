"""A stream is accepted only when its audio can have voiced all of its text."""

from __future__ import annotations

import pytest

from narrator.errors import IncompleteAudioError, TransientServiceError
from narrator.service.completeness import StreamTally, bytes_per_second, check_complete


def tally(chars: int, audio: int, aligned: int | None) -> StreamTally:
    return StreamTally(
        characters_sent=chars,
        spoken_characters_sent=chars,
        audio_bytes=audio,
        aligned_characters=aligned or 0,
        alignment_seen=aligned is not None,
    )


def test_rates() -> None:
    assert bytes_per_second("mp3_44100_128") == 16000
    assert bytes_per_second("mp3_22050_32") == 4000
    assert bytes_per_second("pcm_16000") == 32000
    assert bytes_per_second("ulaw_8000") == 8000
    assert bytes_per_second("opus_48000_64") is None


def test_no_audio_is_a_failure_and_retryable() -> None:
    with pytest.raises(IncompleteAudioError, match="no audio") as caught:
        check_complete(tally(500, 0, None), "mp3_44100_128")
    assert isinstance(caught.value, TransientServiceError)


def test_audio_far_too_short_for_its_text_is_a_failure() -> None:
    # 6,000 characters is about 400 s of speech; 2 s of audio is a truncation.
    with pytest.raises(IncompleteAudioError, match="truncated"):
        check_complete(tally(6000, 32000, None), "mp3_44100_128")


def test_alignment_that_misses_text_is_a_failure() -> None:
    with pytest.raises(IncompleteAudioError, match="alignment covers"):
        check_complete(tally(1000, 16000 * 70, 500), "mp3_44100_128")


def test_a_plausible_stream_passes() -> None:
    check_complete(tally(1000, 16000 * 70, 990), "mp3_44100_128")
    check_complete(tally(1000, 10, None), "opus_48000_64")  # length unknown: audio present


@pytest.mark.parametrize("share", [0.6, 0.7, 0.89])
def test_alignment_must_cover_nine_tenths_of_the_text(share: float) -> None:
    with pytest.raises(IncompleteAudioError, match="alignment covers"):
        check_complete(tally(1000, 16000 * 70, int(1000 * share)), "mp3_44100_128")
    check_complete(tally(1000, 16000 * 70, 900), "mp3_44100_128")


def test_without_alignment_a_third_of_ordinary_speech_fails_even_at_top_speed() -> None:
    # 1,500 voiced characters are about 100 s at 15 a second; a third of that is 33 s.
    with pytest.raises(IncompleteAudioError, match="truncated"):
        check_complete(tally(1500, 16000 * 33, None), "mp3_44100_128", max_speed=1.2)
    check_complete(tally(1500, 16000 * 60, None), "mp3_44100_128", max_speed=1.2)
