"""Baseline (a): the official ``elevenlabs`` SDK's WebSocket helper, chapter after chapter.

Runs in its own virtualenv (never narrator's): ``python3 -m venv /tmp/benchvenv &&
/tmp/benchvenv/bin/pip install elevenlabs``. The SDK turns its base URL's scheme into
``wss://`` (``realtime_tts.py``), so the local server must serve TLS; its self-signed
certificate is trusted through ``SSL_CERT_FILE``. Each chapter's audio is written to its file
as it arrives, which is what a user of ``convert_realtime`` would do.

    /tmp/benchvenv/bin/python benchmarks/sdk_client.py JOB.json OUT_DIR

``JOB.json`` is the one ``sequential_client.py`` reads; ``url`` is ``wss://host:port``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from elevenlabs import VoiceSettings
from elevenlabs.client import ElevenLabs


def main(job_path: Path, out: Path) -> None:
    job = json.loads(job_path.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    base_url = job["url"].replace("wss://", "https://", 1)
    client = ElevenLabs(api_key=job["api_key"], base_url=base_url)
    settings = VoiceSettings(stability=0.5, similarity_boost=0.75, style=0.0,
                             use_speaker_boost=True, speed=1.0)  # fmt: skip
    total = 0
    for chapter in job["chapters"]:
        with (out / chapter["file"]).open("wb") as file:
            for audio in client.text_to_speech.convert_realtime(
                job["voice_id"],
                text=iter(chapter["pieces"]),
                model_id=job["model_id"],
                output_format=job["output_format"],
                voice_settings=settings,
            ):
                file.write(audio)
                total += len(audio)
    print(f"{len(job['chapters'])} chapters, {total} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
