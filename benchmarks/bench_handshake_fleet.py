"""Fleet probe: `x0ctl handshake probe --inventory` of 200 entries against a few local servers.

    .venv/bin/python benchmarks/bench_handshake_fleet.py [--backend openssl|liboqs] [--servers 4]
                                                         [--entries 200] [--concurrency 50] [--json]

Starts `--servers` real `x0ctl handshake serve` processes on 127.0.0.1 (default limits, except
`--max-per-source 64`: here one prober stands for a fleet's worth of distinct callers, while each
real node sees one connection from it), writes an inventory of `--entries` peers spread over them
(each entry pinned to its server's fingerprint), and times the whole command, interpreter start
included. Targets: < 15 s on openssl, < 5 s on liboqs, every peer ok. Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_process import start_serve

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = {"openssl": 15.0, "liboqs": 5.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="openssl", choices=("openssl", "liboqs"))
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    servers = [(process, f"{host}:{port}", identity) for process, host, port, identity in
               (start_serve("--backend", args.backend, "--max-per-source", "64") for _ in range(args.servers))]
    try:
        with tempfile.TemporaryDirectory() as folder:
            inventory = Path(folder) / "fleet.yaml"
            lines = ["peers:"]
            for index in range(args.entries):
                _, address, identity = servers[index % len(servers)]
                lines.append(f"  - {{name: node-{index:03d}, address: '{address}', fingerprint: '{identity}'}}")
            inventory.write_text("\n".join(lines) + "\n")
            began = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "x0ctl", "-o", "json", "handshake", "probe", "--inventory",
                                  str(inventory), "--concurrency", str(args.concurrency), "--backend", args.backend],
                                 cwd=REPO, capture_output=True, text=True, timeout=300)
            seconds = time.perf_counter() - began
    finally:
        for process, _, _ in servers:
            os.kill(process.pid, signal.SIGTERM)
        for process, _, _ in servers:
            process.communicate(timeout=60)
    data = json.loads(run.stdout)
    p50s = sorted(peer["latency_ms"]["p50"] for peer in data["peers"] if peer["latency_ms"]["p50"] is not None)
    target = TARGET_SECONDS[args.backend]
    result = {"backend": args.backend, "servers": args.servers, "entries": args.entries,
              "concurrency": args.concurrency, "seconds": round(seconds, 2), "probe_seconds": data["seconds"],
              "ok_peers": data["summary"]["ok"], "failed_peers": data["failed_peers"],
              "handshake_p50_ms": p50s[len(p50s) // 2] if p50s else None, "target_seconds": target,
              "ok": seconds < target and data["ok"]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"fleet probe, backend {args.backend}: {args.entries} entries over {args.servers} servers, "
              f"--concurrency {args.concurrency}: {result['seconds']:.2f} s wall (the probing itself "
              f"{result['probe_seconds']:.2f} s), {result['ok_peers']}/{args.entries} ok, median handshake "
              f"{result['handshake_p50_ms']} ms (under the probe's own concurrency); target < {target:g} s "
              f"{'ok' if result['ok'] else 'MISSED'}")
        if result["failed_peers"]:
            print(f"failed: {', '.join(result['failed_peers'])}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
