"""Fine-tuned model versions on disk: one directory per version, a manifest beside its weights, a `current` pointer.

Layout under the models root ($COLDSTART_DATA_DIR/models, default var/coldstart/models):

    <version>/manifest.json   {name, version, base, base_version, kind, [items], files, config, data, metrics, created}
    <version>/lora/           peft LoRA adapter (adapter_config.json + weights), when kind has "lora"
    <version>/head.pt         nn.Linear state dict, when kind has "head"
    current                   one line: the version the worker loads by default

A manifest with "items": "base" marks a query-side fine-tune: users and queries go through the
tuned model, catalogue items through the base (so the catalogue's vectors stay valid).

The version id is the encoder's own version string, `<name>-<8 hex>`, where the hex is a hash of every
weight the composed model computes with (base, merged LoRA, head), its architecture and sequence
length. So the `model_version` carried by output events names the directory that made them, and the
same weights always get the same id, whatever the config or time recorded beside them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coldstart.config import Settings
from coldstart.errors import ModelError

CURRENT = "current"
LATEST = "latest"


def models_root(root: Path | str | None = None) -> Path:
    """`root`, else $COLDSTART_DATA_DIR/models."""
    return Path(root) if root else Settings.from_env().data_dir / "models"


def save_version(write: Callable[[Path], list[str]], manifest: dict[str, Any], root: Path | str | None = None) -> str:
    """Write a new version: `write(dir)` puts the weight files in and returns their names; return the id.

    The directory is assembled aside, loaded once to compute its id (which also proves it loads), then
    moved into place; saving identical weights again keeps the existing directory and returns its id.
    """
    from coldstart.encoder.loader import load_model

    base_root = models_root(root)
    base_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=base_root))
    try:
        files = write(staging)
        record = {**manifest, "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_manifest(staging, record)
        version = load_model(str(staging), threads=_threads_in_use(), cache_size=0).version
        _write_manifest(staging, {**record, "version": version})
        final = base_root / version
        if final.is_dir():
            return version
        os.replace(staging, final)
        return version
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _threads_in_use() -> int:
    """torch's current pool size when torch is loaded (loading must not change it), else one thread."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 1


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    tmp = directory / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / "manifest.json")


def manifest(version_or_path: str, root: Path | str | None = None) -> dict[str, Any]:
    """The manifest of a version (id, `current`, `latest` or a directory)."""
    return dict(json.loads((resolve(version_or_path, root) / "manifest.json").read_text()))


def record_metrics(version_or_path: str, metrics: dict[str, Any], root: Path | str | None = None) -> None:
    """Merge evaluation figures into a version's manifest (they are not part of its id)."""
    path = resolve(version_or_path, root)
    data = json.loads((path / "manifest.json").read_text())
    data["metrics"] = {**data.get("metrics", {}), **metrics}
    _write_manifest(path, data)


def versions(root: Path | str | None = None) -> list[str]:
    """Saved version ids, oldest first (by manifest `created`, then id)."""
    base_root = models_root(root)
    if not base_root.is_dir():
        return []
    found = []
    for path in base_root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (path / "manifest.json").is_file():
            created = json.loads((path / "manifest.json").read_text()).get("created", "")
            found.append((created, path.stat().st_mtime, path.name))
    return [name for *_, name in sorted(found)]


def latest(root: Path | str | None = None) -> str | None:
    """The most recently saved version id, or None when there is none."""
    saved = versions(root)
    return saved[-1] if saved else None


def current(root: Path | str | None = None) -> str | None:
    """The version the `current` pointer names, or None when unset."""
    pointer = models_root(root) / CURRENT
    return pointer.read_text().strip() or None if pointer.is_file() else None


def set_current(version: str, root: Path | str | None = None) -> str:
    """Point `current` at a saved version (atomically); return its id."""
    path = resolve(version, root)
    pointer = models_root(root) / CURRENT
    tmp = pointer.with_name(f".{CURRENT}.{os.getpid()}")
    tmp.write_text(path.name + "\n")
    os.replace(tmp, pointer)
    return path.name


def resolve(version_or_path: str, root: Path | str | None = None) -> Path:
    """A version directory from a version id (or its hash suffix), a model name (its latest version),
    `current`, `latest`, or a directory path."""
    spec = version_or_path.strip()
    base_root = models_root(root)
    if spec in (CURRENT, LATEST):
        named = current(root) if spec == CURRENT else latest(root)
        if named is None:
            raise ModelError(f"expected a {spec!r} model version under {base_root}, found none; "
                             "run `coldstart finetune` first")
        spec = named
    given = Path(spec).expanduser()
    if (given / "manifest.json").is_file():
        return given
    if (base_root / spec / "manifest.json").is_file():
        return base_root / spec
    named_versions = [v for v in versions(root) if _name_of(base_root / v) == spec]
    if named_versions:  # a model name (a fetched catalogue model's, say): its latest version
        return base_root / named_versions[-1]
    is_hash = len(spec) >= 4 and all(c in "0123456789abcdef" for c in spec)
    matches = [v for v in versions(root) if v.endswith(spec)] if is_hash else []
    if len(matches) == 1:
        return base_root / matches[0]
    known = ", ".join(versions(root)[-5:]) or "none"
    raise ModelError(f"expected a model version id or version directory, got {version_or_path!r} "
                     f"({'ambiguous: ' + ', '.join(matches) if matches else 'no match'}; under {base_root}: {known})")


VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # schemas/model_updates.json


def resolve_version(name: str, root: Path | str | None = None) -> Path:
    """A version directory inside the registry, from its id, a model name, a hash suffix, `current`
    or `latest`: what a published (control topic) version may name; a path, even one into the registry, is
    refused, so a control record can never make a worker load a directory elsewhere on disk."""
    if not VERSION_NAME.fullmatch(name):
        raise ModelError(f"a model version is a name inside the registry (letters, digits, '.', "
                         f"'_', '-'); got {name[:60]!r}")
    path = resolve(name, root)
    if path.resolve().parent != models_root(root).resolve():
        raise ModelError(f"model version {name!r} is not a version of the registry {models_root(root)}")
    return path


def _name_of(path: Path) -> str:
    try:
        return str(json.loads((path / "manifest.json").read_text()).get("name", ""))
    except (OSError, ValueError):
        return ""


def model_spec(model: str | None = None, root: Path | str | None = None) -> str | None:
    """What to hand `load_encoder`: a version (id, `current`, `latest`) as its directory, any other model
    spec (directory, cached model name) as given; None: $COLDSTART_MODEL, else the `current` version,
    else None (the bundled model)."""
    chosen = model or Settings.from_env().model
    if not chosen:
        pointed = current(root)
        return str(resolve(pointed, root)) if pointed else None
    try:
        return str(resolve(chosen, root))
    except ModelError:
        if chosen in (CURRENT, LATEST):
            raise
        return chosen  # not a version: a model directory or a cached model name, for load_encoder
