"""The worker's BM25 must score exactly as the offline BM25 the figures were measured with."""
import pytest

from coldstart.evaluation.bm25 import BM25
from coldstart.text.lexical import TRIGRAMS, WORDS, LexicalIndex, char_trigrams, singular

TEXTS = {
    "a": "DEWALT 20-Volt Max Cordless Drill Driver Kit",
    "b": "Behr Premium Plus 1 gal. Deck Stain",
    "c": "Cordless Leaf Blower 40-Volt with Battery",
    "d": "Drill Bit Set (21-Piece) for wood and metal drill",
    "e": "Rain Jacket, light, waterproof",
}


@pytest.fixture
def index() -> LexicalIndex:
    lexical = LexicalIndex()
    lexical.upsert(list(TEXTS), list(TEXTS.values()))
    return lexical


@pytest.mark.parametrize("query", ["cordless drill", "drill drill bit", "deck stain 1 gal", "volt"])
def test_scores_match_the_offline_bm25(index, query):
    offline = BM25(list(TEXTS.values())).scores([query])[0]
    ids, scores = index.search(query, 5)
    expected = {i: s for i, s in zip(TEXTS, offline) if s > 0}
    assert dict(zip(ids, scores.tolist())) == pytest.approx(expected, rel=1e-5)
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)


def test_a_replaced_text_is_searched_by_its_new_words_only(index):
    index.upsert(["e"], ["Trail running shoes"])
    assert index.search("jacket", 5)[0] == []
    assert index.search("trail shoes", 5)[0] == ["e"]
    assert len(index) == 5


def test_deleted_items_leave_the_statistics(index):
    index.delete(["a", "c", "zzz"])
    rest = {k: v for k, v in TEXTS.items() if k not in ("a", "c")}
    offline = BM25(list(rest.values())).scores(["cordless drill"])[0]
    ids, scores = index.search("cordless drill", 5)
    assert dict(zip(ids, scores.tolist())) == pytest.approx(
        {i: s for i, s in zip(rest, offline) if s > 0}, rel=1e-5)
    assert "a" not in index and len(index) == 3


def test_slots_are_reused_and_exclusions_and_k_respected(index):
    index.delete(["b"])
    index.upsert(["f"], ["Deck stain, semi-transparent"])
    assert index.search("deck stain", 5)[0] == ["f"]
    ids, _ = index.search("drill", 1)
    assert ids == ["d"]  # two "drill"s beat one
    assert index.search("drill", 5, exclude={"d"})[0] == ["a"]


def test_empty_and_unknown_queries_find_nothing():
    assert LexicalIndex().search("drill", 3)[0] == []
    lexical = LexicalIndex()
    lexical.upsert(["a"], ["drill"])
    assert lexical.search("!!!", 3)[0] == [] and lexical.search("hammer", 3)[0] == []
    with pytest.raises(ValueError):
        lexical.upsert(["x", "y"], ["one"])


def test_trigrams_span_word_boundaries_of_the_normalised_text():
    assert char_trigrams("Toliet  SEAT!") == [" to", "tol", "oli", "lie", "iet", "et ", "t s", " se", "sea",
                                              "eat", "at "]
    assert char_trigrams("!!!") == []


@pytest.mark.parametrize("query", ["cordles dril", "drills", "deckstain", "volt"])
def test_trigram_scores_match_the_offline_bm25(query):
    index = LexicalIndex(TRIGRAMS)
    index.upsert(list(TEXTS), list(TEXTS.values()))
    offline = BM25(list(TEXTS.values()), TRIGRAMS).scores([query])[0]
    ids, scores = index.search(query, 5)
    assert dict(zip(ids, scores.tolist())) == pytest.approx({i: s for i, s in zip(TEXTS, offline) if s > 0},
                                                             rel=1e-5)


def test_trigrams_find_a_misspelled_word_that_words_miss():
    words, trigrams = LexicalIndex(WORDS), LexicalIndex(TRIGRAMS)
    for index in (words, trigrams):
        index.upsert(list(TEXTS), list(TEXTS.values()))
    assert words.search("waterprof jaket", 5)[0] == []
    assert trigrams.search("waterprof jaket", 5)[0][0] == "e"


def test_many_deletes_compact_the_index_and_keep_its_scores():
    index = LexicalIndex()
    index.upsert([f"old-{i}" for i in range(3000)], ["cordless drill"] * 3000)
    index.upsert(list(TEXTS), list(TEXTS.values()))
    index.delete([f"old-{i}" for i in range(3000)])
    assert len(index._ids) == len(TEXTS)  # the dead slots are gone, not only skipped
    offline = BM25(list(TEXTS.values())).scores(["cordless drill"])[0]
    ids, scores = index.search("cordless drill", 5)
    assert dict(zip(ids, scores.tolist())) == pytest.approx({i: s for i, s in zip(TEXTS, offline) if s > 0},
                                                             rel=1e-5)


CHINESE = {
    "shoes": "轻便缓震跑鞋，适合半程马拉松训练",
    "jacket": "防雨透气外套，户外徒步必备",
    "wok": "不锈钢炒锅，厨房烹饪",
    "blocks": "儿童益智积木玩具",
}


def test_cjk_text_is_split_into_characters_and_neighbouring_pairs():
    """Chinese has no spaces: without n-grams a whole sentence would be one term, or none."""
    from coldstart.text.lexical import tokenize

    assert tokenize("防雨外套") == ["防", "雨", "外", "套", "防雨", "雨外", "外套"]
    assert tokenize("Nike跑鞋 42码") == ["nike", "跑", "鞋", "跑鞋", "42", "码"]
    assert tokenize("Toliet seat, 1/2 in.") == ["toliet", "seat", "1", "2", "in"]  # as before elsewhere
    assert char_trigrams("跑鞋 ab") == [" 跑鞋", "跑鞋 ", "鞋 a", " ab", "ab "]


@pytest.mark.parametrize("analyzer", [WORDS, TRIGRAMS])
def test_a_chinese_description_finds_its_items_by_their_words(analyzer):
    lexical = LexicalIndex(analyzer)
    lexical.upsert(list(CHINESE), list(CHINESE.values()))
    ids, _ = lexical.search("我在准备半程马拉松，想要轻便的跑鞋和防雨外套", 4)
    assert ids[:2] == ["shoes", "jacket"] and "blocks" not in ids
    offline = BM25(list(CHINESE.values()), analyzer).scores(["想要防雨外套"])[0]
    assert dict(zip(*lexical.search("想要防雨外套", 4))) == pytest.approx(
        {i: s for i, s in zip(CHINESE, offline) if s > 0}, rel=1e-5)


@pytest.mark.parametrize("word, singular_form", [
    ("doors", "door"), ("batteries", "battery"), ("boxes", "box"), ("benches", "bench"),
    ("glass", "glass"), ("cactus", "cactus"), ("tennis", "tennis"), ("gas", "gas"), ("2x4s", "2x4s")])
def test_plurals_are_searched_as_their_singular(word, singular_form):
    assert singular(word) == singular_form


def test_a_plural_query_finds_the_singular_title_by_its_words():
    words = LexicalIndex(WORDS)
    words.upsert(["hinge", "gnome"], ["Brass Door Hinge", "Garden Gnome"])
    assert words.search("hinges", 2)[0] == ["hinge"]  # no word of the query is in a title as it is
