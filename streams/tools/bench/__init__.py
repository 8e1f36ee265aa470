"""`coldstart bench`: the encoder on its own, or the running pipeline end to end."""
from __future__ import annotations

import argparse


def main(args: argparse.Namespace) -> int:
    if args.target == "encoder":
        from streams.tools.bench.encoder import main as encoder_main

        encoder_main(["-n", str(args.texts), *(f"--model={name}" for name in args.model or [])])
        return 0
    from streams.tools.bench.pipeline import main as pipeline_main

    return pipeline_main(args)
