"""The guard's dead letters: a user topic's event that raises is named without the exception's text."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from coldstart.errors import ColdstartError
from streams import guard
from streams.app import settings


def run_guarded(topic: str, exc: Exception, monkeypatch: pytest.MonkeyPatch) -> str:
    sent: list[str] = []

    async def capture(message: Any, error: str) -> None:
        sent.append(error)

    async def handle(batch: Sequence[Any]) -> None:
        raise exc

    monkeypatch.setattr(guard, "send_dead_letter", capture)
    message = SimpleNamespace(topic=settings.topic(topic), partition=0, offset=0, key=b"u", value=b"{}")
    asyncio.run(guard.guarded([message], handle, lambda m: m, "users"))
    assert len(sent) == 1
    return sent[0]


def test_a_user_topics_foreign_exception_is_named_by_type_only(monkeypatch: pytest.MonkeyPatch) -> None:
    error = run_guarded("signups", KeyError("my private words"), monkeypatch)
    assert error.startswith("users: KeyError") and "private words" not in error


def test_the_products_own_error_keeps_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    error = run_guarded("signups", ColdstartError("injected fault"), monkeypatch)
    assert "injected fault" in error


def test_a_catalogue_exception_keeps_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    error = run_guarded("catalog", ValueError("bad title"), monkeypatch)
    assert "ValueError: bad title" in error
