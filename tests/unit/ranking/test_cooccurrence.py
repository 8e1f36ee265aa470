"""Co-occurrence: action-weighted, decayed, order-free, bounded, one small value per item."""
from __future__ import annotations

import math
import random

import pytest

from coldstart.ranking.cooccurrence import (
    Cooccurrence,
    CooccurrenceConfig,
    Neighbours,
    apply_update_bytes,
    merge_updates,
    row_updates,
)
from coldstart.ranking.profile import DAY_MS

T0 = 1_700_000_000_000
NO_DECAY = CooccurrenceConfig(half_life_days=math.inf, backward=1.0)


def test_items_clicked_after_an_item_are_its_neighbours_strongest_first() -> None:
    cooc = Cooccurrence(NO_DECAY)
    for _ in range(3):
        cooc.update(["a"], "b", "click", T0)
    cooc.update(["a"], "c", "click", T0)
    ids, scores = cooc.neighbours("a", 5)
    assert ids == ["b", "c"] and scores[0] > scores[1] > 0
    # cosine: w_ab / sqrt(m_a * m_b); a was never clicked itself, so its mass is its best pair
    assert scores[0] == pytest.approx(6 / math.sqrt(6 * 6))
    assert cooc.neighbours("unknown", 5) == ([], pytest.approx([]))
    cooc.update([], "solo", "click", T0)
    cooc.update([], "solo", "click", T0)  # a row with a mass and no neighbours yet
    assert cooc.mass(["solo", "unknown"]).tolist() == pytest.approx([4.0, 0.0])


def test_stronger_actions_weigh_more() -> None:
    cooc = Cooccurrence(NO_DECAY)
    cooc.update(["x"], "viewed", "view", T0)
    cooc.update(["x"], "viewed", "view", T0)
    cooc.update(["x"], "bought", "purchase", T0)  # 8 against 2 views of 1
    assert cooc.rows["x"].keys["bought"] == pytest.approx(math.log(8))
    assert cooc.rows["x"].keys["viewed"] == pytest.approx(math.log(2))


def test_old_pairs_fade_with_the_half_life() -> None:
    config = CooccurrenceConfig(half_life_days=1.0, backward=1.0, alpha=0.0)
    cooc = Cooccurrence(config)
    for _ in range(4):
        cooc.update(["a"], "old", "click", T0)
    cooc.update(["a"], "new", "click", T0 + 3 * DAY_MS)  # 4 pairs three half-lives ago = 0.5
    ids, _ = cooc.neighbours("a", 2)
    assert ids == ["new", "old"]
    old, new = cooc.similarity("a", ["old", "new"])
    assert old / new == pytest.approx(4 * 2.0 ** -3)
    assert cooc.mass(["new"])[0] == pytest.approx(2.0)  # a click weighs 2, valued at `now`


def test_arrival_order_does_not_matter() -> None:
    clicks = [(["a", "b"], "c", "click", T0 + i * 3_600_000) for i in range(20)]
    clicks += [(["c"], "a", "purchase", T0 + i * 7_200_000) for i in range(10)]
    config = CooccurrenceConfig(half_life_days=0.5)
    ordered, shuffled = Cooccurrence(config), Cooccurrence(config)
    for c in clicks:
        ordered.update(*c)
    random.Random(1).shuffle(clicks)
    for c in clicks:
        shuffled.update(*c)
    for item in ("a", "b", "c"):
        assert shuffled.rows[item].mass == pytest.approx(ordered.rows[item].mass)
        assert shuffled.rows[item].keys == pytest.approx(ordered.rows[item].keys)


def test_window_direction_and_self_pairs() -> None:
    config = CooccurrenceConfig(half_life_days=math.inf, window=2, backward=0.25)
    cooc = Cooccurrence(config)
    cooc.update(["p", "q", "r", "s", "s"], "s", "click", T0)  # s itself is skipped; r, q in window
    assert set(cooc.rows["s"].keys) == {"r", "q"}
    assert "p" not in cooc and "s" not in cooc.rows["s"].keys
    assert cooc.rows["r"].keys["s"] == pytest.approx(math.log(2))  # r's row: s came after
    assert cooc.rows["s"].keys["r"] == pytest.approx(math.log(2 * 0.25))  # s's row: r came before


def test_memory_per_item_is_bounded_and_keeps_the_strongest() -> None:
    config = CooccurrenceConfig(half_life_days=math.inf, max_neighbours=10)
    cooc = Cooccurrence(config)
    for _ in range(5):
        cooc.update(["hub"], "favourite", "purchase", T0)
    for i in range(500):
        cooc.update(["hub"], f"once-{i:03d}", "view", T0)
        assert len(cooc.rows["hub"]) < 2 * config.max_neighbours
    assert cooc.neighbours("hub", 1)[0] == ["favourite"]


def test_a_row_round_trips_through_small_bytes() -> None:
    cooc = Cooccurrence(CooccurrenceConfig(half_life_days=7.0))
    for i in range(30):
        cooc.update([f"n{j}" for j in range(i % 7)], f"n{i % 9}", "click", T0 + i * 60_000)
    for item, row in cooc.rows.items():
        data = row.to_bytes()
        assert len(data) <= 24 + sum(6 + len(n) for n in row.keys)
        back = Neighbours.from_bytes(data)
        assert back.mass == row.mass and back.keys == pytest.approx(row.keys, rel=1e-6, abs=1e-4)
        other = Cooccurrence(cooc.config)
        for name in cooc.rows:
            other.load_row(name, cooc.row_bytes(name))  # type: ignore[arg-type]
        assert other.neighbours(item, 5)[0] == cooc.neighbours(item, 5)[0]
    assert Neighbours.from_bytes(Neighbours().to_bytes()) == Neighbours()
    with pytest.raises(ValueError, match="CSN"):
        Neighbours.from_bytes(b"not a row")


def test_per_key_updates_on_bytes_match_the_in_memory_structure() -> None:
    """What a table keyed by item_id would do: apply each row's update to that row's bytes."""
    config = CooccurrenceConfig(half_life_days=3.0)
    memory, table = Cooccurrence(config), dict[str, bytes]()
    history: list[str] = []
    for i, item in enumerate(["a", "b", "a", "c", "d", "b", "e"]):
        memory.update(history, item, "click", T0 + i * 1000)
        for update in row_updates(history, item, "click", T0 + i * 1000, config):
            table[update.item_id] = apply_update_bytes(table.get(update.item_id), update, config)
        history.append(item)
    assert set(table) == set(memory.rows)
    for item, data in table.items():
        row = Neighbours.from_bytes(data)
        assert row.mass == pytest.approx(memory.rows[item].mass)
        assert row.keys == pytest.approx(memory.rows[item].keys, rel=1e-6, abs=1e-4)


def test_a_batch_merged_per_row_gives_the_rows_of_one_update_per_click() -> None:
    """The stream sends one update per row per batch; the rows must equal click-by-click ones."""
    config = CooccurrenceConfig(half_life_days=3.0)
    one_by_one, merged = dict[str, bytes](), dict[str, bytes]()
    batch, history = [], []
    for i, item in enumerate(["a", "b", "a", "c", "d", "b", "e", "a"]):
        for update in row_updates(history, item, "click", T0 + i * 1000, config):
            one_by_one[update.item_id] = apply_update_bytes(one_by_one.get(update.item_id),
                                                            update, config)
            batch.append(update)
        history.append(item)
    rows = merge_updates(batch)
    assert len(rows) == len({u.item_id for u in rows}) == 5  # one per row touched
    for update in rows:
        merged[update.item_id] = apply_update_bytes(None, update, config)
    assert set(merged) == set(one_by_one)
    for item, data in merged.items():
        want, got = Neighbours.from_bytes(one_by_one[item]), Neighbours.from_bytes(data)
        assert got.mass == pytest.approx(want.mass)
        assert got.keys == pytest.approx(want.keys, rel=1e-6, abs=1e-4)


def _learned(seed: int = 5, clicks: int = 400) -> Cooccurrence:
    rng, cooc = random.Random(seed), Cooccurrence(CooccurrenceConfig(half_life_days=7.0))
    history: list[str] = []
    for i in range(clicks):
        item = f"i{rng.randrange(40)}"
        cooc.update(history[-10:], item, rng.choice(["view", "click", "purchase"]), T0 + i * 1000)
        history.append(item)
    return cooc


def test_rows_loaded_as_bytes_score_like_rows_learned_in_memory() -> None:
    """Workers load every changed row as bytes and parse it only when a list reads it."""
    memory, loaded = _learned(), Cooccurrence(CooccurrenceConfig(half_life_days=7.0))
    for name in memory.rows:
        loaded.load_row(name, memory.row_bytes(name))  # type: ignore[arg-type]
    ids = [f"i{j}" for j in range(45)]  # five never seen
    assert loaded.mass_keys(ids) == pytest.approx(memory.mass_keys(ids))
    for item in ("i1", "i7", "i30"):
        assert loaded.neighbours(item, 8, exclude={"i2"})[0] == memory.neighbours(
            item, 8, exclude={"i2"})[0]
        assert loaded.similarity(item, ids) == pytest.approx(memory.similarity(item, ids),
                                                             rel=1e-5)
    loaded.load_row("i1", Neighbours(0.0, {"zz": 0.0}).to_bytes())  # a newer row replaces it
    assert loaded.neighbours("i1", 5)[0] == ["zz"]


def test_similarities_and_candidates_agree_with_one_row_at_a_time() -> None:
    cooc = _learned(seed=9)
    recent, ids = ["i3", "i4", "i5", "nobody"], [f"i{j}" for j in range(40)] + ["new"]
    matrix = cooc.similarities(recent, ids)
    for r, item in enumerate(recent):
        assert matrix[r] == pytest.approx(cooc.similarity(item, ids))
    want: list[str] = []
    for item in recent:
        want += [n for n in cooc.neighbours(item, 6, exclude={"i3"})[0] if n not in want]
    assert sorted(cooc.candidates(recent, 6, exclude={"i3"})) == sorted(want)


def test_rows_written_in_the_first_byte_format_are_still_read() -> None:
    import struct

    import numpy as np

    head = struct.pack("<3sBIdd", b"CSN", 1, 2, 1.5, 2.0)
    data = (head + np.array([0.0, -1.0], dtype="<f4").tobytes()
            + np.array([1, 3], dtype="<u2").tobytes() + "abé".encode())
    row = Neighbours.from_bytes(data)
    assert row.mass == 1.5 and row.keys == {"a": 2.0, "bé": 1.0}
    assert Neighbours.from_bytes(row.to_bytes()) == row
    odd = Neighbours(0.0, {"x\x00y": 1.0, "z": 0.5})  # a NUL in an id: the first format again
    assert Neighbours.from_bytes(odd.to_bytes()).keys == pytest.approx(odd.keys)


def test_the_id_space_grows_past_its_first_arrays() -> None:
    """Ids index dense arrays that start small; thousands of items must still score."""
    cooc, memory = Cooccurrence(NO_DECAY), Cooccurrence(NO_DECAY, rows={})
    for i in range(3000):
        for c in (cooc, memory):
            c.update([f"i{i - 1}"] if i else [], f"i{i}", "click", T0 + i)
    assert len(cooc) == 3000
    assert cooc.mass(["i2999", "i0"]).tolist() == pytest.approx([2.0, 2.0])
    assert cooc.neighbours("i2500", 3)[0] == memory.neighbours("i2500", 3)[0] == ["i2499", "i2501"]  # a tie: by name
    assert cooc.similarity("i2998", ["i2999"]) == pytest.approx(memory.similarity("i2998", ["i2999"]))
