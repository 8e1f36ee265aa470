"""What a fetched encoder version's manifest.json says: its runtime, and a digest of its files."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_HASH_CHUNK = 1 << 22


def manifest_runtime(spec: str | Path | None) -> str | None:
    """The "runtime" a version directory's manifest names (None: not a fetched version)."""
    if not spec:
        return None
    path = Path(spec).expanduser() / "manifest.json"
    if not path.is_file():
        return None
    try:
        runtime = json.loads(path.read_text()).get("runtime")
    except (ValueError, AttributeError):
        return None
    return runtime if isinstance(runtime, str) else None


def content_digest(directory: Path, manifest: dict[str, Any], described: Sequence[str],
                   files: Sequence[str]) -> str:
    """8 hex of sha256 over the manifest's `described` keys and the bytes of its `files` keys:
    what the vectors depend on, so cached vectors never mix two models."""
    digest = hashlib.sha256()
    digest.update(json.dumps({key: manifest.get(key) for key in described}, sort_keys=True).encode())
    for key in files:
        with open(directory / str(manifest[key]), "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:8]
