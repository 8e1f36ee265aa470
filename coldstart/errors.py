"""Errors from one root, so callers can catch everything coldstart raises in one place."""
from __future__ import annotations


class ColdstartError(Exception):
    """Root of every error coldstart raises on purpose."""


class ConfigError(ColdstartError):
    """A setting (environment variable or argument) has a value we cannot use."""


class ModelError(ColdstartError):
    """The encoder model cannot be found, loaded or run."""


class InvalidEventError(ColdstartError):
    """An event does not match its schema; the message names the field and the problem."""


class ItemIndexError(ColdstartError):
    """An item index operation got inconsistent input (wrong dimension, unknown kind...)."""
