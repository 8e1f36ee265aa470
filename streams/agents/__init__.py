"""Faust agents, one module per domain, registered with the app here and only here.

users (profiles, recommendations), ads (page views), cooccurrence, popularity and feedback (the
shared models' tables), the catalogue replica task (streams/replica.py) and the log line naming
the user partitions a worker serves (streams/assignment.py).
"""
from __future__ import annotations


def register() -> None:
    """Import every agent module: importing one registers its agents and tasks with the app."""
    from streams import assignment, ops, replica  # noqa: F401
    from streams.agents import ads, cooccurrence, feedback, popularity, users  # noqa: F401
