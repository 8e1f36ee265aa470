"""Chinese end to end: the Chinese encoder fetched from Maven, the Chinese sample catalogue, a real worker."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e import (
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
from streams.tools.sample_data_zh import ZH_DIR

pytestmark = pytest.mark.integration

READY_TIMEOUT = 300.0
RUNNING = "跑步户外"


def _zh(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "locale": "zh-CN"} if "description" in event else event


@pytest.fixture(scope="module")
def zh_pipeline(broker: str, topic_prefix: str, worker_factory: Callable[[Settings], Worker],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A worker serving bge-small-zh-v15 (COLDSTART_MODEL names it) over the Chinese sample catalogue."""
    settings = fetched_model_settings(broker, topic_prefix, "zh", "bge-small-zh-v15", tmp_path_factory)
    with fetched_model_pipeline(settings, worker_factory, ZH_DIR, READY_TIMEOUT) as pipeline:
        yield pipeline


def test_a_chinese_description_gets_its_categorys_items_first(zh_pipeline: Pipeline) -> None:
    event = _zh(signup(new_id("zh-u"), "我在准备半程马拉松，想要轻便的跑鞋和防雨外套"))
    rec = zh_pipeline.recommend(event)
    check_recommendation(zh_pipeline, rec, event, "signup")
    assert rec["model_version"].startswith("bge-small-zh-v15-")
    assert categories(zh_pipeline, rec, 5) == [RUNNING] * 5, [i["item_id"] for i in rec["items"]]
    titles = [zh_pipeline.items[i["item_id"]]["title"] for i in rec["items"][:3]]
    assert any("跑鞋" in t or "防雨外套" in t for t in titles), titles


@pytest.mark.parametrize(("query", "category"), [("降噪耳机", "数码影音"), ("猫抓板", "宠物用品"),
                                                 ("给宝宝用的有机棉襁褓", "母婴")])
def test_a_chinese_search_finds_what_it_names(zh_pipeline: Pipeline, query: str, category: str) -> None:
    event = search(new_id("zh-u"), query)
    rec = zh_pipeline.recommend(event, "searches")
    check_recommendation(zh_pipeline, rec, event, "search")
    assert categories(zh_pipeline, rec, 3) == [category] * 3
