"""Fixtures for the local server's tests: each test starts its own real server on port 0
with the switches it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from narrator.local import LocalServer, ServerOptions

from .wire import ServerFactory


@pytest.fixture
def local_server() -> ServerFactory:
    """``async with local_server(**options) as server``: a real server on port 0."""

    @asynccontextmanager
    async def start(**options: Any) -> AsyncIterator[LocalServer]:
        async with LocalServer(port=0, options=ServerOptions(**options)) as server:
            yield server

    return start
