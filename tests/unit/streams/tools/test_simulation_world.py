"""The pipeline simulation's world: catalogue and users from MovieLens, what a user clicks, reports."""
from __future__ import annotations

from pathlib import Path

import pytest

from coldstart.evaluation.datasets import datasets_root, load_movielens
from streams.tools.simulation_world import (
    RunResult,
    clicks_for,
    movielens_catalog,
    movielens_users,
    plot_rounds,
    report,
    signup_words,
    split_movie_text,
)


def test_a_user_clicks_each_shown_wanted_item_once_in_list_order() -> None:
    wants = frozenset({"a", "c", "z"})
    assert clicks_for(["c", "b", "a", "c"], wants, clicked=set()) == ["c", "a"]
    assert clicks_for(["c", "b", "a"], wants, clicked={"c"}) == ["a"]
    assert clicks_for(["b"], wants, clicked=set()) == []


def test_signup_words_name_the_films_and_the_commonest_genres() -> None:
    movies = [split_movie_text("Heat (1995). Genres: Action, Crime, Thriller."),
              split_movie_text("Se7en (1995). Genres: Mystery, Thriller. Tags: dark."),
              split_movie_text("Casino (1995). Genres: Crime, Drama.")]
    assert movies[1] == ("Se7en (1995)", "Genres: Mystery, Thriller. Tags: dark.")
    assert signup_words(movies) == ("Films I loved: Heat (1995); Se7en (1995); Casino (1995). "
                                    "Mostly crime, thriller and action.")


def test_the_report_adds_up_and_the_chart_is_written(tmp_path: Path) -> None:
    runs = [RunResult("exploration off", 0.0, [3, 1, 0]), RunResult("exploration 10%", 0.1, [2, 2])]
    out = report(runs, {"users": 2})
    assert out["users"] == 2
    assert [(r["total_clicks"], r["cumulative"]) for r in out["runs"]] == \
        [(4, [3, 4, 4]), (4, [2, 4])]
    assert plot_rounds(runs, tmp_path / "chart.png", "t").stat().st_size > 0


@pytest.mark.parametrize("text", ["No genres here", "A. Genres: (no genres listed)."])
def test_odd_movie_texts_still_make_words(text: str) -> None:
    assert signup_words([split_movie_text(text)]).startswith("Films I loved: ")


@pytest.mark.skipif(not (datasets_root() / "movielens_small" / "ratings.csv").is_file(),
                    reason="MovieLens not found (set COLDSTART_DATASETS to the datasets folder)")
def test_movielens_users_follow_the_protocol_and_a_small_catalogue_keeps_their_movies() -> None:
    data = load_movielens()
    users = movielens_users(data, 3)
    assert all(len(u.onboarding) == 5 and len(u.wants) == 20 for u in users)
    assert all(not set(u.onboarding) & u.wants for u in users)
    keep = {m for u in users for m in (*u.onboarding, *u.wants)}
    small = movielens_catalog(data, keep, size=100)
    assert len(small) == 100 and keep <= {e["item_id"] for e in small}
    assert all(e["title"] and e["description"].startswith("Genres: ") for e in small)
    assert len(movielens_catalog(data)) == len(data.catalogue)
