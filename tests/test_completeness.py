"""A stream is accepted only when its audio can have voiced all of its text."""

from __future__ import annotations

import pytest

from narrator.errors import IncompleteAudioError, TransientServiceError
from narrator.service.completeness import (
    Coverage,
    StreamTally,
    bytes_per_second,
    check_complete,
    spoken_length,
)


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


def test_coverage_counts_each_position_once_when_a_pass_repeats() -> None:
    coverage = Coverage("Hello there. General Kenobi.")
    assert coverage.add(list("Hello there.")) == 11
    # Flash v2.5 has been seen to start a pass again from character 0
    assert coverage.add(list("Hello there. General")) == 7
    assert coverage.add(list(" Kenobi.")) == 7
    assert coverage.covered == coverage.length == 25


def test_a_repeated_pass_cannot_hide_a_truncation() -> None:
    text = " ".join(f"Sentence number {n} says something of its own." for n in range(20))
    coverage = Coverage(text)
    half = text[: len(text) // 2]
    for _ in range(3):  # the same half, three times: naive counting would see 150 %
        coverage.add(list(half))
    assert coverage.covered < 0.6 * coverage.length


def test_items_holding_several_code_points_count_as_their_characters() -> None:
    text = "नमस्ते दुनिया 👩‍💻"
    items = ["न", "म", "स्", "ते", " ", "दु", "नि", "या", " ", "👩‍💻"]
    coverage = Coverage(text)
    coverage.add(items)
    assert coverage.covered == coverage.length


def test_normalised_chunks_that_do_not_match_continue_at_the_cursor() -> None:
    coverage = Coverage("In 1999 it rained.")
    assert coverage.add(list("In")) == 2
    coverage.add(list(" nineteen"))  # normalised text: not in the original
    assert 0 < coverage.covered <= coverage.length


def test_spoken_length_of_text_leaves_out_exactly_the_unicode_whitespace() -> None:
    every = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000)
    expected = sum(1 for c in every if not c.isspace())
    assert spoken_length(every) == expected == len(every) - 29
    # Alignment items may hold several code points: each voiced item counts once.
    assert spoken_length(["ab", " ", "\u0915\u094d"]) == 2
