"""One entry point to load any served encoder: ONNX versions without torch, everything else through torch."""
from __future__ import annotations

from coldstart.encoder.cached import CachedEncoder
from coldstart.encoder.onnx_backend import is_onnx_version, load_onnx_encoder
from coldstart.errors import ModelError


def load_model(spec: str | None = None, *, threads: int = 0, cache_size: int = 10_000,
               quantize: bool = False) -> CachedEncoder:
    """The encoder for a model spec (a version directory, a model dir or name; None: the bundled model).

    A version whose manifest says "runtime": "onnx" runs through ONNX Runtime and never imports
    torch; `quantize` (torch's dynamic int8) applies to the torch ones only, since an ONNX version
    is int8 or not by its own graph.
    """
    if is_onnx_version(spec):
        if quantize:
            raise ModelError(f"expected quantize=False for an ONNX version ({spec}): fetch its int8 (-q) model instead")
        return load_onnx_encoder(str(spec), threads=threads, cache_size=cache_size)
    from coldstart.encoder.encoder import load_encoder

    return load_encoder(spec, threads=threads, cache_size=cache_size, quantize=quantize)
