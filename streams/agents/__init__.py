"""Faust agents, one module per domain, registered with the app here and only here.

users (profiles, recommendations), ads (page views), cooccurrence, popularity and feedback (the
shared models' tables), and the catalogue replica task (streams/replica.py).
"""
from __future__ import annotations


def register() -> None:
    """Import every agent module: importing one registers its agents and tasks with the app."""
    from streams import replica  # noqa: F401
    from streams.agents import ads, cooccurrence, feedback, popularity, users  # noqa: F401
