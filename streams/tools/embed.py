"""`coldstart embed`: one L2-normalised vector per input line (plain text, or a JSON-lines field) to .npy."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from coldstart.errors import ConfigError


def read_texts(inp: Path, field: str | None = None) -> list[str]:
    """Each line of `inp` (newline stripped); with `field`, that string field of each JSON-lines object."""
    lines = Path(inp).read_text(encoding="utf-8").splitlines()
    if field is None:
        return lines
    texts = []
    for number, line in enumerate(lines, 1):
        try:
            value = json.loads(line)[field]
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ConfigError(f"{inp}:{number}: expected a JSON object with a {field!r} field, "
                              f"got {line[:80]!r} ({type(err).__name__})") from None
        if not isinstance(value, str):
            raise ConfigError(f"{inp}:{number}: expected {field!r} to be a string, got {type(value).__name__}")
        texts.append(value)
    return texts


def embed_file(inp: Path, out: Path, field: str | None = None, model: str | None = None) -> int:
    """Embed every line of `inp` with `model` (a version, path or name; None: the current model) into
    `out` as a float32 (lines, dim) array; return the number of vectors written."""
    from coldstart.encoder.encoder import load_encoder
    from coldstart.encoder.registry import model_spec

    if not Path(inp).is_file():
        raise ConfigError(f"expected an input file at {inp}, found none")
    texts = read_texts(inp, field)
    encoder = load_encoder(model_spec(model), threads=int(os.environ.get("COLDSTART_ENCODER_THREADS") or 0),
                           cache_size=0)
    vectors = (encoder.encode(texts, show_progress=sys.stderr.isatty()) if texts
               else np.zeros((0, encoder.dim), np.float32))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:  # a file object, so numpy never appends .npy to the name given
        np.save(fh, vectors.astype(np.float32))
    return len(texts)
