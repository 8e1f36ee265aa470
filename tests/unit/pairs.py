"""Hand-made training pairs shared by the encoder's and the re-ranker's fine-tuning tests."""
from __future__ import annotations

from coldstart.finetune.pairs import Pair

TOPICS = [("running shoes for trails", "Trail running shoes, lightweight"),
          ("pot for baking bread", "Cast iron dutch oven, 5 litre"),
          ("pan to boil pasta", "Stainless steel saucepan"),
          ("jacket for rainy hikes", "Waterproof rain jacket"),
          ("how to bake sourdough", "Sourdough baking book"),
          ("led bulb 60 watt", "Philips 60W equivalent soft white LED light bulb"),
          ("cordless drill", "DEWALT 20V MAX cordless drill driver kit"),
          ("garden hose 50 ft", "Flexzilla 50 ft. garden hose"),
          ("wood screws", "#8 x 1-1/4 in. phillips flat-head wood screws (100-pack)"),
          ("ceiling fan with light", "Hunter 52 in. indoor ceiling fan with light kit")]


def tiny_pairs(copies: int = 3) -> list[Pair]:
    """Each topic phrased a few ways, so a by-text validation split has something to rank."""
    pairs = []
    for n in range(copies):
        for text, item in TOPICS:
            pairs.append(Pair(f"{text} {['', 'please', 'cheap'][n % 3]}".strip(), item, 1.0))
    return pairs
