"""The `coldstart` console command: one entry point, one small handler per subcommand."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from coldstart.errors import ColdstartError

Handler = Callable[[argparse.Namespace], int]


def _broker(args: argparse.Namespace) -> int:
    from streams.tools.broker import BrokerConfig, LocalBroker, coldstart_home

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
    from streams.tools.replay import replay

    replay(Path(args.file), args.topic, rate=args.rate, key_field=args.key)
    return 0


def _record(args: argparse.Namespace) -> int:
    from streams.tools.replay import record

    record(args.topic, Path(args.out), follow=args.follow, timeout=args.timeout, limit=args.limit)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streams.tools.demo import run_demo

    return run_demo(seconds=args.seconds, lang=args.lang)


def _finetune(args: argparse.Namespace) -> int:
    import json

    from streams.tools.finetune import run as finetune_run

    logged = None
    if args.from_topics:
        from streams.tools.topic_events import DELETIONS, LOGGED, read_logged_events

        logged = read_logged_events(topics=(*LOGGED, DELETIONS), progress=not args.quiet)
    summary = finetune_run(args, logged)
    if args.publish:
        from streams.tools.publish import publish

        summary["published"] = publish(summary["model_version"], root=args.out)
        summary["current"] = summary["model_version"]
    print(json.dumps(summary))
    return 0


def _model(args: argparse.Namespace) -> int:
    from coldstart.encoder import registry as model_registry

    if args.action == "list":
        from streams.tools.models import listing

        current = model_registry.current(args.root)
        print("versions:")
        for version in model_registry.versions(args.root):
            print(f"{'*' if version == current else ' '} {version}")
        print("catalogue (`coldstart model fetch NAME`):")
        for row in listing(args.root):
            state = "fetched" if row["versions"] else "cached" if row["cached"] else "available"
            print(f"  {row['name']:<22} {state:<9} {row['languages']} {row['dim']}d {row['pooling']} pooling, "
                  f"{row['precision'] or ('int8' if row['int8'] else 'fp32')}, {row['licence']}  {row['maven']}")
        return 0
    if not args.version:
        print(f"coldstart model {args.action}: expected a {'NAME' if args.action == 'fetch' else 'VERSION'} "
              "(see `coldstart model list`)", file=sys.stderr)
        return 2
    if args.action == "fetch":
        from streams.tools.models import fetch

        print(f"registered {fetch(args.version, root=args.root)}")
        return 0
    if args.action == "export":
        from coldstart.finetune.export import export_version

        version = export_version(args.version, root=args.root, int8=args.int8)
        print(f"registered {version} (ONNX{' int8' if args.int8 else ''}; `coldstart model use {version}` serves it)")
        return 0
    from streams.tools.publish import publish

    event = publish(args.version, root=args.root)
    print(f"published {event['model_version']}: every worker switches to it; "
          f"`current` points at it")
    return 0


def _embed(args: argparse.Namespace) -> int:
    from streams.tools.embed import embed_file

    count = embed_file(Path(args.inp), Path(args.out), field=args.field, model=args.model)
    print(f"wrote {count} vectors to {args.out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.pipeline:
        from streams.tools.pipeline_eval import main as pipeline_eval_main

        return pipeline_eval_main(args)
    from coldstart.evaluation.run import run_eval

    paths = run_eval(args.dataset, Path(args.out), model=args.model, limit=args.limit, split=args.split)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from streams.tools.bench import main as bench_main

    return bench_main(args)


def _simulate(args: argparse.Namespace) -> int:
    from streams.tools.simulate import main as simulate_main

    return simulate_main(args)


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
    demo.add_argument("--lang", choices=["en", "zh"], default="en",
                      help="zh: the Chinese sample catalogue and shoppers, served by bge-small-zh-v15")
    demo.set_defaults(handler=_demo)

    finetune = sub.add_parser("finetune", help="parameter-efficient fine-tuning of the encoder")
    finetune.add_argument("--pairs", help="CSV/JSONL of (text, item_text or item_id, label) rows")
    finetune.add_argument("--events", help="folder of recorded signups/searches/clicks/catalog .jsonl")
    finetune.add_argument("--from-topics", action="store_true",
                          help="read signups, searches, clicks and catalog from the broker "
                               "(COLDSTART_BROKER, COLDSTART_TOPIC_PREFIX), start to end")
    finetune.add_argument("--dataset", choices=["home_depot"], help="train split of a dataset")
    finetune.add_argument("--items", help="catalog JSONL resolving item_id in --pairs/--events")
    finetune.add_argument("--out", default=None, help="models directory (default DATA_DIR/models)")
    finetune.add_argument("--base", default=None, help="model to start from (default: bundled)")
    finetune.add_argument("--epochs", type=int, default=1)
    finetune.add_argument("--limit", type=int, default=0, help="train on N sampled pairs (0: all)")
    finetune.add_argument("--loss", choices=["contrastive", "bce"], default="contrastive")
    finetune.add_argument("--towers", choices=["both", "query"], default="both",
                          help="query: tune only the user/query side; items keep the base's vectors")
    finetune.add_argument("--lora-r", type=int, default=16, help="LoRA rank (0: no LoRA)")
    finetune.add_argument("--lora-alpha", type=int, default=0, help="LoRA alpha (0: 2 x rank)")
    finetune.add_argument("--lora-targets", default="query,key,value,dense")
    finetune.add_argument("--lora-layers", type=int, default=2, help="adapt the last N layers (0: all)")
    finetune.add_argument("--head", action="store_true", help="train a linear projection head")
    finetune.add_argument("--batch-size", type=int, default=64)
    finetune.add_argument("--lr", type=float, default=3e-4)
    finetune.add_argument("--hard-negatives", type=int, default=1, help="contrastive: per pair")
    finetune.add_argument("--negatives", type=int, default=3, help="bce/events: random per positive")
    finetune.add_argument("--val-fraction", type=float, default=0.1)
    finetune.add_argument("--eval-every", type=int, default=64, help="steps (0: each epoch)")
    finetune.add_argument("--patience", type=int, default=2)
    finetune.add_argument("--max-seq-length", type=int, default=28, help="tokens per text in training")
    finetune.add_argument("--seed", type=int, default=13)
    finetune.add_argument("--threads", type=int, default=2)
    finetune.add_argument("--set-current", action="store_true", help="make it the worker's model")
    finetune.add_argument("--publish", action="store_true",
                          help="set current and tell running workers to switch (model use)")
    finetune.add_argument("--quiet", action="store_true", help="no progress bar")
    finetune.add_argument("--reranker", action="store_true",
                          help="train a re-ranker (cross-encoder) instead; the new version keeps "
                               "--base's encoder (a version id; default: the bundled model)")
    finetune.add_argument("--rr-pairs", type=int, default=32000,
                          help="re-ranker: train on at most N pairs (0: all)")
    finetune.add_argument("--rr-lr", type=float, default=None,
                          help="re-ranker: peak learning rate (default: RerankerConfig's, 5e-4)")
    finetune.add_argument("--rr-head-std", type=float, default=None,
                          help="re-ranker: std of the head's initial weights (default 0: zero head)")
    finetune.add_argument("--rr-eval-every", type=int, default=400,
                          help="re-ranker: steps between validations (0: each epoch)")
    finetune.set_defaults(handler=_finetune)

    model = sub.add_parser("model", help="model versions: list them, fetch a catalogue encoder, "
                                         "export a fine-tune of one to ONNX, or switch every worker")
    model.add_argument("action", choices=["use", "list", "fetch", "export"])
    model.add_argument("version", nargs="?", help="use, export: a version id (or its hash suffix); "
                                                  "fetch: a catalogue name (see list)")
    model.add_argument("--int8", action="store_true",
                       help="export: quantise to dynamic int8 (onnxruntime.quantization)")
    model.add_argument("--root", default=None, help="models directory (default DATA_DIR/models)")
    model.set_defaults(handler=_model)

    embed = sub.add_parser("embed", help="one L2-normalised vector per input line")
    embed.add_argument("--in", dest="inp", required=True)
    embed.add_argument("--out", required=True)
    embed.add_argument("--field", help="JSON-lines input: the text field")
    embed.add_argument("--model", help="model version or path (default: current model)")
    embed.set_defaults(handler=_embed)

    evaluate = sub.add_parser("eval", help="offline evaluation against baselines, or (--pipeline) "
                                           "through a running worker")
    evaluate.add_argument("--dataset", choices=["home_depot", "movielens"], default="home_depot")
    evaluate.add_argument("--out", default="reports")
    evaluate.add_argument("--model", default=None)
    evaluate.add_argument("--limit", type=int, default=0, help="evaluate the first N queries/users")
    evaluate.add_argument("--split", choices=["test", "train"], default="test",
                          help="Home Depot queries: test (the protocol's figures) or train (to choose "
                               "settings that involve no training without looking at the test split)")
    evaluate.add_argument("--pipeline", action="store_true",
                          help="Home Depot through a real broker and `coldstart worker` on fresh topics: "
                               "each query a new user's first recommendations")
    evaluate.add_argument("--as", dest="as_", choices=["signup", "search"], default="signup",
                          help="with --pipeline: the query as a signup's description, or as a "
                               "search by a user who never signed up")
    evaluate.set_defaults(handler=_eval)

    bench = sub.add_parser("bench", help="benchmarks: encoder, or the pipeline end to end")
    bench.add_argument("target", choices=["encoder", "pipeline"], nargs="?", default="pipeline")
    bench.add_argument("--texts", type=int, default=512, help="encoder: how many texts")
    bench.add_argument("--model", action="append", metavar="NAME",
                       help="encoder: also bench this served encoder, e.g. a fetched ONNX version by name "
                            "(repeatable)")
    bench.add_argument("--rate", type=float, default=0.0,
                       help="pipeline: events per second of each phase (0: as fast as possible)")
    bench.add_argument("--events", type=int, default=1000, help="pipeline: events per phase")
    bench.add_argument("--kinds", default="signups,searches,clicks,page_views",
                       help="pipeline: one phase per kind, in this order")
    bench.add_argument("--phase", action="append", metavar="KIND[@RATE][:EVENTS]",
                       help="pipeline: a phase, e.g. clicks@2000:20000, or mixed@500/200/20:20 "
                            "(clicks, page views and signups per second at once, for 20 s); "
                            "repeatable; overrides --kinds")
    bench.add_argument("--zipf", type=float, default=0.0,
                       help="pipeline: clicks' items Zipf-skewed with this exponent (1.1 as in "
                            "the issue; users stay uniform); 0: uniform items")
    bench.add_argument("--targets", action="store_true",
                       help="pipeline: the issue's target phases, judged pass/fail: "
                            "signups@max:1000, signups@20:600, clicks@max:20000, "
                            "clicks@2000:20000, page_views@200:3000")
    bench.add_argument("--catalog-size", type=int, default=1000,
                       help="pipeline: items in the catalogue (1,000 to 100,000 in the issue)")
    bench.add_argument("--source", choices=["demo", "home_depot"], default="demo",
                       help="pipeline: catalogue and user words from the demo vocabulary or "
                            "Home Depot titles and search terms")
    bench.add_argument("--users", type=int, default=1000,
                       help="pipeline: users that searches, clicks and page views come from")
    bench.add_argument("--worker", dest="no_worker", action="store_false", default=False,
                       help="pipeline: start a worker on fresh topics (default)")
    bench.add_argument("--no-worker", dest="no_worker", action="store_true",
                       help="pipeline: use the worker already running on COLDSTART_TOPIC_PREFIX")
    bench.add_argument("--workers", type=int, default=1,
                       help="pipeline: workers to start in one group (a data dir each); with 2 "
                            "or more the run ends by SIGKILLing one and timing the fail-over")
    bench.add_argument("--no-failover", action="store_true",
                       help="pipeline: with --workers 2 or more, skip the fail-over")
    bench.add_argument("--data-dir", help="pipeline: the started worker's data dir (default: "
                                          "a temporary one, removed afterwards)")
    bench.add_argument("--cold-cache", action="store_true",
                       help="pipeline: do not share item vectors with earlier bench runs")
    bench.add_argument("--keep", action="store_true",
                       help="pipeline: keep the run's topics and data dir")
    bench.add_argument("--ready-timeout", type=float, default=1800.0,
                       help="pipeline: seconds the worker may take to load the catalogue")
    bench.add_argument("--drain-timeout", type=float, default=60.0,
                       help="pipeline: seconds without a new answer before a phase gives up")
    bench.add_argument("--out", default=None, help="write the JSON result here")
    bench.set_defaults(handler=_bench)

    simulate = sub.add_parser("simulate", help="simulated users through the real pipeline: "
                                               "exploration on vs off")
    simulate.add_argument("--dataset", choices=["movielens"], default="movielens")
    simulate.add_argument("--users", type=int, default=100, help="the protocol's first N users")
    simulate.add_argument("--rounds", type=int, default=5)
    simulate.add_argument("--explore", type=float, action="append", metavar="RATE",
                          help="an exploration rate to run (repeatable; default 0 and 0.1)")
    simulate.add_argument("--catalog-size", type=int, default=0,
                          help="0: every movie; else the users' movies and the most liked others")
    simulate.add_argument("--revisit", action="store_true",
                          help="a user who clicked nothing searches with their words again")
    simulate.add_argument("--out", default="reports")
    simulate.set_defaults(handler=_simulate)
    _add_operations(sub)
    return parser


def _status(args: argparse.Namespace) -> int:
    from coldstart.config import Settings
    from streams.tools.status import run_status

    return run_status(Settings.from_env(), args.worker or [], args.json, args.timeout)


def _dashboard(args: argparse.Namespace) -> int:
    from coldstart.config import Settings
    from streams.tools.dashboard.server import DashboardConfig, run_dashboard

    return run_dashboard(Settings.from_env(), DashboardConfig(
        host=args.host, port=args.port, workers=tuple(args.worker or ()), poll_s=args.poll,
        history=args.history))


def _add_operations(sub: argparse._SubParsersAction) -> None:
    """`coldstart status` and `coldstart dashboard` (docs/operations.md)."""
    worker_help = "a worker's operations address, e.g. http://host:9464 (repeatable; the group's " \
                  "members are found through the broker anyway)"
    status = sub.add_parser("status", help="the group's members, partitions, lag, served model, "
                                           "readiness")
    status.add_argument("--worker", action="append", metavar="URL", help=worker_help)
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.add_argument("--timeout", type=float, default=3.0, help="seconds per worker request")
    status.set_defaults(handler=_status)
    dashboard = sub.add_parser("dashboard", help="a live page: throughput, latency, lag, dead "
                                                 "letters, recommendations, one user's list")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on")
    dashboard.add_argument("--port", type=int, default=8070, help="port to listen on (0: any free)")
    dashboard.add_argument("--worker", action="append", metavar="URL", help=worker_help)
    dashboard.add_argument("--poll", type=float, default=2.0, help="seconds between scrapes")
    dashboard.add_argument("--history", type=int, default=20000,
                           help="records per partition of each output topic read at start")
    dashboard.set_defaults(handler=_dashboard)


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
