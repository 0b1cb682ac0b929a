"""python -m bench run [...] | python -m bench report FILE  (see bench/README.md)."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Clarion's benchmark suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios against the stacks and write bench/results/<date>-<commit>.json")
    run.add_argument("--quick", action="store_true",
                     help="smoke run (200 clients, 3 broadcasts, short bursts): checks the machinery, under 2 min")
    run.add_argument("--stacks", help="comma list of: websockets, channels-naive, socketio, clarion, clarion-redis")
    run.add_argument("--scenarios",
                     help="comma list of: connect, memory, broadcast, broadcast-filtered, broadcast-ack, one-to-one, head-of-line, bulk, "
                          "burst, multiproc, create-rate; cluster (only when named: 1 Redis against a 3-master "
                          "Redis Cluster, 2 and 4 processes, broadcast and 1:1)")
    run.add_argument("--clients", help="comma list of N (default 1000,5000,10000; --quick: 200)")
    run.add_argument("--bcasts", type=int, help="broadcasts after the warm-up (default 20; --quick: 3)")
    run.add_argument("--ack-jitter", type=float, default=0.0,
                     help="broadcast-ack: each client acks after a random 0..S s (plus --ack-delay) instead of at once")
    run.add_argument("--ack-delay", type=float, default=0.0,
                     help="broadcast-ack: each client waits this long before its ack (plus --ack-jitter)")
    run.add_argument("--unicast-rate", type=float, default=0.0,
                     help="one-to-one and head-of-line: personal notifications per second (default 100); lower"
                          " it to measure latency below the rate where REST requests queue")
    run.add_argument("--procs", help="server processes for multiproc (default 1,2,4) and cluster (default 2,4); "
                                     "--quick: 2")
    run.add_argument("--burst-clients", type=int, default=1000,
                     help="N at which the burst runs (default 1000; the smallest N when it is not in --clients)")
    run.add_argument("--redis-url", help="use this Redis instead of a private redis-server (FLUSHALL is run on it!)")
    run.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test",
                     help="PostgreSQL to create clarion-redis' throwaway databases in")
    run.add_argument("--clarion-src", help="run the clarion stacks from this src/ directory (e.g. an older checkout)")
    run.add_argument("--run-timeout", type=float, default=1800.0, help="seconds one (stack, N) run may take")
    run.add_argument("--out", help="result file (default bench/results/<date>-<short commit>.json)")
    rep = sub.add_parser("report", help="print the markdown tables of a result file (for docs/benchmarks.md)")
    rep.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "run":
        from bench.driver import main_run

        return main_run(args)
    from bench.report import main_report

    return main_report(args.file)


if __name__ == "__main__":
    sys.exit(main())
