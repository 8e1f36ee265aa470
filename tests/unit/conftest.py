"""Shared unit-test fixtures: the real default encoder, loaded once per session."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from coldstart.encoder.encoder import Encoder


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The bundled all-MiniLM-L6-v2, offline; imported here so tests without it skip torch's import."""
    from coldstart.encoder.encoder import load_encoder

    return load_encoder()
