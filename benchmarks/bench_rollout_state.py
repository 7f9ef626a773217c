"""Benchmark: the cost of one rollout journal append on etcd against the local state directory.

Both stores append the same gate event (a realistic ~600-byte record) the same number of times, in
the same run, interleaved in rounds so that disk and CPU noise hit both alike:

- local: `StateDir` journal, an fcntl-locked, fsynced append to a JSON-lines file;
- etcd: `EtcdState` journal on a real etcd (one member on 127.0.0.1, its own data dir), with the
  target's lease held, so every append is the fenced compare-and-swap transaction a running
  rollout makes (etcd fsyncs its WAL before it answers).

Target: etcd's median append < 50 ms on loopback. Printed: median and p95 per append for each store,
the difference per append (etcd's overhead) and the ratio.

    .venv/bin/python benchmarks/bench_rollout_state.py [--appends 200] [--rounds 5]

Needs etcd on PATH (Debian: apt-get install etcd-server).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_MS = 50.0
GATE = {"gate": "slo", "kind": "slo", "at_step": 1, "weight": 10, "verdict": "pass", "action": None,
        "reason": "every SLO within its error budget over 5m (600 requests)", "value": 0.0, "threshold": 0.01,
        "query": ['sum(rate(pqc_handshake_success_total{instance="node-a"}[5m]))',
                  'sum(rate(pqc_handshake_failure_total{instance="node-a"}[5m]))'], "volume": 600.0,
        "at": 1749081600.0}


def timed_appends(journal, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        journal.append("gate", **GATE)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=200, help="appends per store per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from tests.etcdserver import start_etcd
    from x0ctl.rollout.state import EtcdOptions, open_state

    with tempfile.TemporaryDirectory() as tmp:
        server = start_etcd(Path(tmp))
        try:
            local = open_state(str(Path(tmp) / "local"))
            local.ensure()
            etcd = open_state(f"{server.url}/bench", EtcdOptions(lease_ttl=30))
            etcd.ensure()
            lock = etcd.lock("bench")
            lock.acquire("bench-1")
            try:
                local_journal, etcd_journal = local.journal("bench-1"), etcd.journal("bench-1")
                local_journal.append("created", plan={"target": "bench"})
                etcd_journal.append("created", plan={"target": "bench"})
                local_samples, etcd_samples = [], []
                for _ in range(args.rounds):
                    local_samples += timed_appends(local_journal, args.appends)
                    etcd_samples += timed_appends(etcd_journal, args.appends)
                assert len(etcd_journal.events()) == 1 + args.rounds * args.appends
            finally:
                lock.release()
        finally:
            server.stop()

    def figures(samples):
        ordered = sorted(samples)
        return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000

    local_median, local_p95 = figures(local_samples)
    etcd_median, etcd_p95 = figures(etcd_samples)
    print(f"appends per store: {len(etcd_samples)} ({args.rounds} rounds of {args.appends}, interleaved)")
    print(f"local  median {local_median:7.2f} ms   p95 {local_p95:7.2f} ms")
    print(f"etcd   median {etcd_median:7.2f} ms   p95 {etcd_p95:7.2f} ms")
    print(f"etcd overhead per append: {etcd_median - local_median:+.2f} ms (median), ratio {etcd_median / local_median:.2f}x")
    ok = etcd_median < TARGET_MS
    print(f"target: etcd median < {TARGET_MS:.0f} ms -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
