"""Deterministic demo data: `python -m streams.tools.sample_data` writes streams/tools/sample/*.jsonl."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, NamedTuple

import schemas
from coldstart.errors import ColdstartError

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
FILES = ("catalog", "ads", "signups", "searches", "clicks", "page_views")
T0 = 1_717_000_000_000
Event = dict[str, Any]


class Category(NamedTuple):
    """Word lists composed into one category's items."""

    brands: list[str]
    adjectives: list[str]
    nouns: list[str]
    materials: list[str]
    colours: list[str]
    sizes: list[str]
    price: tuple[float, float]
    purpose: str


def _category(*words: Any) -> Category:
    """Category from '|'-separated word lists, then the price range and purpose."""
    return Category(*[w.split("|") if w else [] for w in words[:6]], *words[6:])


CATEGORIES: dict[str, Category] = {
    "running & outdoor": _category(
        "Fellstride|Ridgeline|Northpeak", "lightweight|waterproof|breathable|packable",
        "trail running shoes|rain jacket|running vest|merino base layer|"
        "trekking poles|headlamp|hydration pack|running shorts",
        "ripstop nylon|merino wool|recycled polyester|mesh", "forest green|black|orange", "S|M|L|XL",
        (25, 180), "for trails, hills and wet weekend runs"),
    "kitchen": _category(
        "Copperleaf|Hearth & Co|Bakewell", "enamelled|professional|heavy-duty|classic",
        "cast iron skillet|bread proofing basket|chef's knife|dutch oven|"
        "stand mixer|sourdough starter kit|baking stone|bread lame",
        "cast iron|stainless steel|rattan|ceramic", "cream|red|graphite", "small|medium|large",
        (12, 320), "for home cooks who bake and roast"),
    "home office": _category(
        "Deskwise|Ergonest|Lumen", "adjustable|compact|ergonomic|minimalist",
        "standing desk|ergonomic office chair|monitor arm|desk lamp|"
        "laptop stand|cable tray|footrest|notebook set",
        "oak veneer|aluminium|steel|bamboo", "white|black|walnut", "120 cm|140 cm|160 cm",
        (15, 450), "for long days of focused work at home"),
    "gardening": _category(
        "Greenthumb|Potting Shed|Verdana", "organic|weatherproof|heirloom|sturdy",
        "raised garden bed|pruning shears|tomato seed collection|watering can|"
        "compost bin|garden kneeler|hose reel|herb planter",
        "galvanised steel|cedar wood|recycled plastic|terracotta", "green|natural|grey",
        "small|medium|large",
        (6, 160), "for vegetable patches, herbs and flower borders"),
    "tools & hardware": _category(
        "Brightforge|Ironclad|Torqmax", "cordless|18V|precision|heavy-duty",
        "cordless drill|socket set|claw hammer|laser level|"
        "stud finder|tool box|circular saw|screwdriver set",
        "hardened steel|chrome vanadium|fibreglass|ABS plastic", "yellow|red|black",
        "compact|standard|pro",
        (9, 260), "for DIY repairs and weekend building projects"),
    "baby": _category(
        "Little Acorn|Snugglebee|Nestling", "soft|organic cotton|foldable|gentle",
        "baby carrier|swaddle blanket|bottle steriliser|travel cot|"
        "teething toy|baby monitor|nappy bag|high chair",
        "organic cotton|bamboo muslin|BPA-free silicone|beech wood", "sage|oatmeal|sky blue",
        "newborn|0-6 months|6-12 months",
        (10, 220), "for new parents and growing little ones"),
    "pet supplies": _category(
        "Wagwell|Purrfect|Pawtrail", "orthopedic|durable|reflective|washable",
        "dog bed|cat scratching post|dog harness|automatic feeder|"
        "chew toy|cat litter tray|dog lead|pet water fountain",
        "memory foam|sisal rope|nylon webbing|stainless steel", "charcoal|teal|tan", "S|M|L",
        (7, 140), "for happy dogs, cats and their owners"),
    "books": _category(
        "Penfold Press|Harbour Books|Quill & Ink", "bestselling|illustrated|award-winning|new edition",
        "sourdough baking book|trail running guide|vegetable gardening handbook|"
        "crime thriller novel|picture book for toddlers|home workshop manual|"
        "science fiction novel|dog training guide",
        "paperback|hardback", "", "pocket|standard",
        (8, 35), "for curious readers"),
    "audio & electronics": _category(
        "Sonora|Voltline|Echowave", "wireless|hi-fi|portable|waterproof",
        "noise-cancelling headphones|bluetooth speaker|wireless earbuds|"
        "turntable|soundbar|portable charger|smart watch|e-reader",
        "aluminium|matte plastic|fabric mesh|walnut", "black|silver|navy", "one size",
        (20, 400), "for music, podcasts and gadgets on the go"),
    "beauty": _category(
        "Lumiere|Botanica|Pure Glow", "fragrance-free|vegan|hydrating|gentle",
        "face moisturiser|vitamin C serum|shampoo bar|sunscreen SPF 50|"
        "lip balm|hair dryer|body lotion|cleansing balm",
        "shea butter|aloe vera|jojoba oil|hyaluronic acid", "", "30 ml|50 ml|100 ml",
        (5, 90), "for a simple everyday skincare routine"),
}

# a new user's own words and the categories they are about
USERS: list[tuple[str, list[str]]] = [
    ("trail running shoes and a light rain jacket", ["running & outdoor"]),
    ("I bake bread every weekend and want a proper dutch oven", ["kitchen", "books"]),
    ("setting up a home office, my back hurts after long calls", ["home office"]),
    ("growing tomatoes and herbs on my allotment", ["gardening"]),
    ("expecting our first baby in spring", ["baby"]),
    ("new puppy at home, needs a bed and toys", ["pet supplies"]),
    ("DIY shelves and fixing up an old house", ["tools & hardware"]),
    ("podcasts on my commute, noise cancelling please", ["audio & electronics"]),
    ("simple skincare for sensitive skin, nothing scented", ["beauty"]),
    ("I read crime novels and science fiction", ["books"]),
    ("marathon training and hiking in the hills", ["running & outdoor", "audio & electronics"]),
    ("sourdough, cast iron and slow Sunday cooking", ["kitchen"]),
    ("two cats who scratch everything", ["pet supplies"]),
    ("working from a small flat, need a compact desk", ["home office", "audio & electronics"]),
    ("vegetable garden and composting", ["gardening", "books"]),
    ("weekend woodworking projects", ["tools & hardware", "books"]),
    ("gifts for a newborn niece", ["baby", "books"]),
    ("vinyl records and good speakers", ["audio & electronics"]),
    ("early morning runs and a healthy breakfast", ["running & outdoor", "kitchen"]),
    ("", []),  # says nothing: the popularity fallback
]
ACTIONS = [("view", 0.55), ("click", 0.25), ("add_to_cart", 0.12), ("purchase", 0.08)]


def items(rng: random.Random) -> list[Event]:
    """30 items per category: brand, adjective and noun composed, with attributes."""
    out: list[Event] = []
    for name, cat in CATEGORIES.items():
        for adj, noun in rng.sample([(a, n) for a in cat.adjectives for n in cat.nouns], 30):
            brand, material = rng.choice(cat.brands), rng.choice(cat.materials)
            attrs: dict[str, Any] = {"material": material, "size": rng.choice(cat.sizes)}
            if cat.colours:
                attrs["colour"] = rng.choice(cat.colours)
            out.append({
                "item_id": f"sku-{len(out) + 1:04d}", "title": _capitalise(f"{brand} {adj} {noun}"),
                "description": _sentence(f"{adj} {noun} from {brand}, made with {material}, "
                                         f"{cat.purpose}."),
                "brand": brand, "category": name, "price": round(rng.uniform(*cat.price), 2),
                "attributes": attrs, "ts": T0 + len(out) * 10})
    return out


def ads(rng: random.Random, catalog: list[Event]) -> list[Event]:
    """28 ads on items and 12 text-only ads, with varied bids; two are inactive."""
    out: list[Event] = [{"item_id": item["item_id"], "text": f"{item['title']}, now {item['price']:.2f}"}
                        for item in rng.sample(catalog, 28)]
    for name in [*CATEGORIES, "kitchen", "gardening"]:
        cat = CATEGORIES[name]
        out.append({"text": f"{rng.choice(cat.brands)}: deals on {rng.choice(cat.adjectives)} "
                            f"{rng.choice(cat.nouns)} in our {name} sale"})
    for n, ad in enumerate(out):
        ad.update(ad_id=f"ad-{n + 1:03d}", bid=round(rng.uniform(0.1, 2.5), 2), ts=T0 + 10_000 + n * 10)
    for ad in rng.sample(out, 2):
        ad["active"] = False
    return [{"ad_id": ad.pop("ad_id"), **ad} for ad in out]


def user_events(rng: random.Random, catalog: list[Event], users: list[tuple[str, list[str]]] | None = None,
                categories: dict[str, Category] | None = None, locale: str = "en-GB",
                join: str = " ") -> dict[str, list[Event]]:
    """Per user: a signup, a few searches, clicks on related items and page views, in time order.

    `users`, `categories`, `locale` and `join` (between a search's adjective and noun) default to
    the English sample's."""
    events: dict[str, list[Event]] = {name: [] for name in FILES[2:]}
    clock = T0 + 60_000
    for n, (words, interests) in enumerate(USERS if users is None else users, 1):
        for topic, event in _timeline(rng, f"u-{n:03d}", words, interests, catalog,
                                      categories or CATEGORIES, locale, join):
            clock += rng.randint(200, 5_000)
            event_id = f"{topic[:2]}-{len(events[topic]) + 1:04d}"
            events[topic].append({"event_id": event_id, **event, "ts": clock})
    return events


def _timeline(rng: random.Random, user: str, words: str, interests: list[str], catalog: list[Event],
              categories: dict[str, Category], locale: str, join: str) -> list[tuple[str, Event]]:
    related = [item for item in catalog if item["category"] in interests] or catalog
    timeline = [("signups", {"user_id": user, "description": words, "locale": locale})]
    for name in rng.sample(interests, min(len(interests), rng.randint(0, 2))):
        query = f"{rng.choice(categories[name].adjectives)}{join}{rng.choice(categories[name].nouns)}"
        timeline.append(("searches", {"user_id": user, "query": query}))
    for item in rng.sample(related, rng.randint(3, 7)):
        action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
        timeline.append(("clicks", {"user_id": user, "item_id": item["item_id"], "action": action}))
        if rng.random() < 0.4:
            timeline.append(("page_views", _page_view(rng, user, item)))
    timeline.append(("page_views", _page_view(rng, user, None)))
    return timeline


def _capitalise(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in text.split())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _page_view(rng: random.Random, user: str, item: Event | None) -> Event:
    names = ["top", "side", "inline", "footer"][: rng.randint(2, 4)]
    slots = [{"slot_id": name, "position": p} for p, name in enumerate(names, 1)]
    view: Event = {"user_id": user, "page_id": f"item/{item['item_id']}" if item else "home",
                   "slots": slots}
    if item:
        view["context_item_id"] = item["item_id"]
    return view


def generate(seed: int = 7) -> dict[str, list[Event]]:
    """Every sample file's events, the same for the same seed."""
    rng = random.Random(seed)
    catalog = items(rng)
    return {"catalog": catalog, "ads": ads(rng, catalog), **user_events(rng, catalog)}


def check(data: dict[str, list[Event]]) -> None:
    """Every event valid against its schema, ts increasing per file, event ids unique."""
    ids: set[str] = set()
    for topic, events in data.items():
        stamps = [schemas.decode(topic, json.dumps(e).encode())["ts"] for e in events]
        if stamps != sorted(stamps):
            raise ColdstartError(f"sample {topic}: ts not increasing")
        keyed = [e["event_id"] for e in events if "event_id" in e]
        if ids.intersection(keyed) or len(set(keyed)) != len(keyed):
            raise ColdstartError(f"sample {topic}: event_id repeated")
        ids.update(keyed)


def write(out: Path = SAMPLE_DIR) -> dict[str, int]:
    """Generate, check and write the sample files; return the events per file."""
    data = generate()
    check(data)
    out.mkdir(parents=True, exist_ok=True)
    for topic, events in data.items():
        lines = (json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events)
        (out / f"{topic}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {topic: len(events) for topic, events in data.items()}


if __name__ == "__main__":
    for topic, count in write().items():
        print(f"{topic}: {count} events")
