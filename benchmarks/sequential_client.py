"""Baseline (b): one connection per chapter, chapter after chapter, the documented sequence.

Per chapter: connect, the initial message ``" "`` with voice settings and the default chunk
schedule, the chapter's text in sentence pieces each ending in a space (the last with
``flush``), then ``""``; read until ``isFinal`` and the close, writing the audio to the
chapter's file as it arrives. What a careful user would write in an afternoon.

    python benchmarks/sequential_client.py JOB.json OUT_DIR

``JOB.json``: ``{"url": "wss://host:port", "api_key", "voice_id", "model_id",
"output_format", "chapters": [{"file": "01.mp3", "pieces": ["...", ...]}]}``. For wss with a
self-signed certificate set ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from urllib.parse import urlencode

from websockets.asyncio.client import connect

VOICE_SETTINGS = {
    "stability": 0.5,
    "similarity_boost": 0.75,
    "style": 0.0,
    "use_speaker_boost": True,
    "speed": 1.0,
}


async def narrate_chapter(job: dict, pieces: list[str], path: Path) -> int:
    query = urlencode({"model_id": job["model_id"], "output_format": job["output_format"]})
    url = f"{job['url']}/v1/text-to-speech/{job['voice_id']}/stream-input?{query}"
    written = 0
    async with connect(
        url, additional_headers={"xi-api-key": job["api_key"]}, max_size=16 * 2**20
    ) as ws:
        await ws.send(
            json.dumps(
                {
                    "text": " ",
                    "voice_settings": VOICE_SETTINGS,
                    "generation_config": {"chunk_length_schedule": [120, 160, 250, 290]},
                }
            )
        )

        async def send_all() -> None:
            for number, piece in enumerate(pieces, start=1):
                await ws.send(json.dumps({"text": piece, "flush": number == len(pieces)}))
            await ws.send(json.dumps({"text": ""}))

        sender = asyncio.create_task(send_all())
        with path.open("wb") as out:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("audio"):
                    data = base64.b64decode(message["audio"])
                    out.write(data)
                    written += len(data)
                if message.get("isFinal"):
                    break
                if "error" in message:
                    raise RuntimeError(f"{path.name}: {message}")
        await sender
    if not written:
        raise RuntimeError(f"{path.name}: no audio")
    return written


async def main(job_path: Path, out: Path) -> None:
    job = json.loads(job_path.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for chapter in job["chapters"]:
        total += await narrate_chapter(job, chapter["pieces"], out / chapter["file"])
    print(f"{len(job['chapters'])} chapters, {total} bytes")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
