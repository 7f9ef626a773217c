"""Benchmark: `x0ctl slo status` (default spec) against a real Prometheus, relative to its slowest query.

The command sends one query per SLO, concurrently. Its wall time divided by the slowest single
query it sent in the same run shows what the concurrency and x0ctl's own work (spec, PromQL
generation, client set-up, parsing, verdicts, JSON rendering) cost on top of the server.
Target: <= 1.5, for the command body (what `x0ctl slo status` runs once its options are parsed).

Also printed, for information: the same through the whole in-process CLI (Typer builds the entire
x0ctl command tree on every invocation, which costs tens of milliseconds whatever the command).

    /tmp/v/bin/python benchmarks/bench_slo.py [--runs 7]

Needs prometheus and promtool on PATH (Debian: apt-get install prometheus). The history is
tests/promserver.py's mesh_history(): 2 nodes, 4 days of 5-minute samples, 24k samples.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from typer.testing import CliRunner

    from tests.promserver import MESH_END, mesh_history, start_prometheus
    from x0ctl.cli.main import app
    from x0ctl.cli.slo import _evaluate, _public

    runner = CliRunner()
    with tempfile.TemporaryDirectory(prefix="bench-slo-") as tmp:
        server = start_prometheus(Path(tmp), mesh_history())
        try:
            client_args = (server.url, 5.0, None, "X0CTL_PROMETHEUS_TOKEN", None, "X0CTL_PROMETHEUS_BASIC_AUTH",
                           None, None, None)
            argv = ["slo", "status", "-p", server.url, "--at", str(MESH_END), "-o", "json"]

            def command_body():
                data = _evaluate(None, str(MESH_END), None, None, client_args)
                return json.loads(json.dumps(_public(data), indent=2, default=str))

            def whole_cli():
                result = runner.invoke(app, argv)
                if result.exit_code != 0:
                    raise SystemExit(result.stderr)
                return json.loads(result.stdout)

            tables = {}
            for label, run in (("command body", command_body), ("whole in-process CLI", whole_cli)):
                run()  # warm-up: imports, server caches
                rows = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    data = run()
                    wall = time.perf_counter() - started
                    seconds = [q["seconds"] for q in data["queries"]]
                    rows.append((wall, max(seconds), sum(seconds), len(seconds)))
                tables[label] = rows
        finally:
            server.stop()

    ratios = {}
    for label, rows in tables.items():
        print(f"slo status, {label}")
        print(f"{'run':>5} {'wall ms':>9} {'slowest query ms':>17} {'sum of queries ms':>18} {'queries':>7} "
              f"{'ratio':>6}")
        for number, (wall, slowest, total, count) in enumerate(rows, 1):
            print(f"{number:>5} {wall * 1000:>9.1f} {slowest * 1000:>17.1f} {total * 1000:>18.1f} {count:>7} "
                  f"{wall / slowest:>6.2f}")
        ratios[label] = statistics.median(wall / slowest for wall, slowest, _, _ in rows)
        print(f"  median wall / slowest query = {ratios[label]:.2f}\n")
    ratio = ratios["command body"]
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"slo status (command body): median wall / slowest query = {ratio:.2f} (target <= {TARGET}) {verdict}")
    print(f"for information, through the whole in-process CLI: {ratios['whole in-process CLI']:.2f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
