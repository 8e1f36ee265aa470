"""The `coldstart` console command: one entry point, one small handler per subcommand."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from coldstart.errors import ColdstartError

Handler = Callable[[argparse.Namespace], int]


def _broker(args: argparse.Namespace) -> int:
    from streams.broker import BrokerConfig, LocalBroker, coldstart_home

    data_dir = Path(args.data_dir) if args.data_dir else coldstart_home() / "broker"
    config = BrokerConfig(port=args.port, data_dir=data_dir,
                          log_file=Path(args.log_file) if args.log_file else None)
    broker = LocalBroker(config)
    if args.action == "start":
        seconds = broker.start()
        state = "already running" if seconds == 0 else f"started in {seconds:.1f}s"
        print(f"broker {state} at kafka://{config.address}")
        print(f"  data: {config.data_dir}\n  log:  {config.log_path}")
    elif args.action == "stop":
        print("broker stopped" if broker.stop() else "broker was not running")
    else:
        status = broker.status()
        print(f"broker {status}")
        return 0 if status.startswith("running") else 3
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    return run_worker(loglevel=args.loglevel)


def _replay(args: argparse.Namespace) -> int:
    from streams.replay import replay

    replay(Path(args.file), args.topic, rate=args.rate, key_field=args.key)
    return 0


def _record(args: argparse.Namespace) -> int:
    from streams.replay import record

    record(args.topic, Path(args.out), follow=args.follow, timeout=args.timeout, limit=args.limit)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(seconds=args.seconds)


def _finetune(args: argparse.Namespace) -> int:
    from coldstart.finetune_cli import main as finetune_main

    return finetune_main(args)


def _embed(args: argparse.Namespace) -> int:
    from coldstart.embed_file import embed_file

    count = embed_file(Path(args.inp), Path(args.out), field=args.field, model=args.model)
    print(f"wrote {count} vectors to {args.out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from coldstart.evaluation.run import run_eval

    paths = run_eval(args.dataset, Path(args.out), model=args.model, limit=args.limit)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from streams.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coldstart", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="a local single-node Kafka broker")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--port", type=int, default=9092)
    broker.add_argument("--data-dir", help="broker data (default ~/.cache/coldstart/broker)")
    broker.add_argument("--log-file", help="broker log file (default DATA_DIR/logs/server.log)")
    broker.set_defaults(handler=_broker)

    worker = sub.add_parser("worker", help="run the stream-processing worker (Faust)")
    worker.add_argument("--loglevel", default="warning")
    worker.set_defaults(handler=_worker)

    replay = sub.add_parser("replay", help="produce a JSON-lines file to a topic")
    replay.add_argument("file")
    replay.add_argument("--topic", required=True)
    replay.add_argument("--rate", type=float, default=0.0, help="events per second (0: max)")
    replay.add_argument("--key", help="field used as the record key (default: the topic's id)")
    replay.set_defaults(handler=_replay)

    record = sub.add_parser("record", help="write what a topic holds as JSON lines")
    record.add_argument("--topic", required=True)
    record.add_argument("--out", required=True)
    record.add_argument("--follow", action="store_true", help="keep waiting for new events")
    record.add_argument("--timeout", type=float, default=5.0,
                        help="without --follow: stop after this many idle seconds")
    record.add_argument("--limit", type=int, default=0, help="stop after N events (0: no limit)")
    record.set_defaults(handler=_record)

    demo = sub.add_parser("demo", help="the whole loop on one machine")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to show live output")
    demo.set_defaults(handler=_demo)

    finetune = sub.add_parser("finetune", help="parameter-efficient fine-tuning of the encoder")
    finetune.add_argument("--pairs", help="CSV/JSONL of (text, item_text, label) rows")
    finetune.add_argument("--dataset", choices=["home_depot"], help="train split of a dataset")
    finetune.add_argument("--out", default=None, help="models directory")
    finetune.add_argument("--epochs", type=int, default=1)
    finetune.add_argument("--limit", type=int, default=0)
    finetune.set_defaults(handler=_finetune)

    embed = sub.add_parser("embed", help="one L2-normalised vector per input line")
    embed.add_argument("--in", dest="inp", required=True)
    embed.add_argument("--out", required=True)
    embed.add_argument("--field", help="JSON-lines input: the text field")
    embed.add_argument("--model", help="model version or path (default: current model)")
    embed.set_defaults(handler=_embed)

    evaluate = sub.add_parser("eval", help="offline evaluation against baselines")
    evaluate.add_argument("--dataset", choices=["home_depot", "movielens"], default="home_depot")
    evaluate.add_argument("--out", default="reports")
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument("--limit", type=int, default=0, help="evaluate the first N queries/users")
    evaluate.set_defaults(handler=_eval)

    bench = sub.add_parser("bench", help="benchmarks: encoder, or the pipeline end to end")
    bench.add_argument("target", choices=["encoder", "pipeline"], nargs="?", default="pipeline")
    bench.add_argument("--texts", type=int, default=512)
    bench.add_argument("--rate", type=float, default=0.0)
    bench.add_argument("--events", type=int, default=1000)
    bench.add_argument("--catalog-size", type=int, default=1000)
    bench.add_argument("--out", default=None, help="write the JSON result here")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(("coldstart", "streams")):
            print(f"coldstart {args.command}: not built yet ({exc.name} is missing)",
                  file=sys.stderr)
            return 2
        raise
    except ColdstartError as exc:
        print(f"coldstart {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
