"""Every private Faust/mode/aiokafka name the worker relies on still exists: an upgrade that
removes or renames one fails here, by name, instead of deep inside a running worker."""
from __future__ import annotations

import inspect

import pytest
from faust.streams import Stream

from streams import faust_compat


@pytest.mark.parametrize(("owner", "name"), faust_compat.REACHES,
                         ids=[f"{getattr(o, '__name__', o)}.{n}" for o, n in faust_compat.REACHES])
def test_each_reached_name_still_exists(owner: object, name: str) -> None:
    assert hasattr(owner, name) or name in getattr(owner, "__annotations__", {}) or \
        name in inspect.getsource(owner if inspect.isclass(owner) else type(owner)), \
        f"{owner}.{name} is gone: update streams/faust_compat.py for this Faust version"


def test_stream_take_events_keeps_its_signature() -> None:
    params = inspect.signature(Stream.take_events).parameters
    assert "max_" in params and "within" in params


def test_the_seek_to_committed_override_matches_the_base_coroutine() -> None:
    base = faust_compat.RewindingConsumer.__mro__[1]
    assert inspect.iscoroutinefunction(base.seek_to_committed)
    assert list(inspect.signature(base.seek_to_committed).parameters) == ["self"]


def test_the_worker_without_spinner_still_accepts_fausts_arguments() -> None:
    params = inspect.signature(faust_compat.QuietWorker.__mro__[1].__init__).parameters
    assert "loglevel" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def test_the_app_still_signals_a_completed_rebalance() -> None:
    """streams/assignment.py logs the partitions a worker serves on this (public) signal; Faust
    sends it once a rebalance's table recovery is done, before the streams resume."""
    import faust
    from faust.tables.recovery import Recovery

    assert hasattr(faust.App, "on_rebalance_complete")
    assert "on_rebalance_complete" in inspect.getsource(Recovery)
