"""Fleet probe: x0ctl's handshake against every peer of an inventory, concurrently.

An inventory names each peer's address and the fingerprint it must prove (pinned like
known_hosts, per entry). Accepted forms:

- YAML: a list, or `{peers: [...]}`, or the `{nodes: [...]}` inventory of `x0ctl rollout`; each
  entry is `"HOST:PORT sha256:<fp>"` or a mapping with `name`, `address` (HOST:PORT) or `host` and
  `port`, and `fingerprint` (alias `peer_fingerprint`). A missing port is 7443 (serve's default).
- CSV: one peer per row, `address,fingerprint[,name]`, or with a header naming those columns
  (`name`, `address` or `host` + `port`, `fingerprint`); `#` lines are comments.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "peers.csv")
>>> _ = open(path, "w").write("# the edge\\n10.0.0.7:7443,sha256:" + "ab" * 32 + ",edge-a\\n")
>>> [(peer.name, peer.target, peer.fingerprint[:13]) for peer in load_fleet(path)]
[('edge-a', '10.0.0.7:7443', 'sha256:ababab')]
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.handshake.metrics import HandshakeMetrics
from x0ctl.handshake.net import ProbeReport, format_address, parse_address, run_probe
from x0ctl.handshake.protocol import Identity, PeerPin, normalize_fingerprint
from x0ctl.handshake.stats import slo_checks
from x0ctl.handshake.suites import Suite
from x0ctl.textfile import nested_too_deeply, read_text

DEFAULT_PORT = 7443
DEFAULT_CONCURRENCY = 16
_FINGERPRINT_KEYS = ("fingerprint", "peer_fingerprint")


@dataclass(frozen=True)
class FleetPeer:
    name: str
    host: str
    port: int
    fingerprint: str | None

    @property
    def target(self) -> str:
        return format_address(self.host, self.port)


def _entry(item, index: int, source: str) -> FleetPeer:
    where = f"inventory {source} entry {index + 1}"
    if isinstance(item, str):
        words = item.split()
        if not 1 <= len(words) <= 2:
            raise UsageError(f"{where}: expected 'HOST:PORT [FINGERPRINT]', got {item!r}")
        item = {"address": words[0], "fingerprint": words[1] if len(words) == 2 else None}
    if not isinstance(item, dict):
        raise UsageError(f"{where}: expected an address string or a mapping")
    try:
        if item.get("address"):
            host, port = parse_address(str(item["address"]), default_port=DEFAULT_PORT)
        elif item.get("host"):
            host, port = parse_address(str(item["host"]), default_port=DEFAULT_PORT)
            if item.get("port") is not None:
                port = int(str(item["port"]))
        else:
            raise UsageError("no address (or host)")
        if not 0 < port <= 65535:
            raise UsageError(f"port {port} is not a destination")
        fingerprint = next((str(item[key]).strip() for key in _FINGERPRINT_KEYS if item.get(key)), None)
        if fingerprint is not None:
            normalize_fingerprint(fingerprint)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}") from None
    except ValueError:
        raise UsageError(f"{where}: port {item.get('port')!r} is not a number") from None
    name = str(item.get("name") or format_address(host, port)).strip()
    return FleetPeer(name, host, port, fingerprint)


def _csv_rows(text: str) -> list:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO("\n".join(lines)))]
    if rows and {"address", "host", "fingerprint", "peer_fingerprint"} & {cell.lower() for cell in rows[0]}:
        header = [cell.lower() for cell in rows[0]]
        return [dict(zip(header, row, strict=False)) for row in rows[1:]]
    return [dict(zip(("address", "fingerprint", "name"), row, strict=False)) for row in rows]


def load_fleet(path: str | Path) -> list[FleetPeer]:
    """The peers of an inventory file; UsageError (exit 2) when malformed, IOFailure (4) when unreadable."""
    source = str(path)
    text = read_text(path, "inventory")
    if source.lower().endswith(".csv"):
        items = _csv_rows(text)
    else:
        import yaml

        try:
            items = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise UsageError(f"inventory {source} is not valid YAML (or CSV with a .csv name)") from None
        except RecursionError:
            raise nested_too_deeply(path, "inventory") from None
        if isinstance(items, dict):
            items = items.get("peers", items.get("nodes"))
    if not isinstance(items, list) or not items:
        raise UsageError(f"inventory {source} lists no peer (a list, or peers:/nodes: with a list)")
    peers, seen = [], set()
    for index, item in enumerate(items):
        peer = _entry(item, index, source)
        if peer.name in seen:
            raise UsageError(f"inventory {source} entry {index + 1}: {peer.name!r} is listed twice")
        seen.add(peer.name)
        peers.append(peer)
    return peers


@dataclass
class FleetRequest:
    """One `probe --inventory` invocation."""

    inventory: Path
    count: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    insecure_any_peer: bool = False
    timeout: float = 5.0
    max_payload: int = 16384
    min_success_rate: float = 99.0
    max_p95_ms: float | None = None  # checked per peer only when asked: the fleet's own concurrency adds latency


@dataclass
class PeerOutcome:
    peer: FleetPeer
    report: ProbeReport

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def reason(self) -> str | None:
        """The most frequent failure ("peer:<reason>" for the peer's refusals), or None."""
        tally = self.report.tally
        counts = {**tally.failures, **{f"peer:{r}": n for r, n in tally.peer_reported.items()}}
        if self.ok and not counts:
            return None
        if not counts:
            return "latency_slo"  # every handshake succeeded, but p95 was not below --max-p95-ms
        return max(counts, key=counts.get)

    def to_dict(self) -> dict:
        data = self.report.to_dict()
        reason = self.reason
        return {"name": self.peer.name, "target": self.peer.target, "pinned": self.peer.fingerprint,
                "ok": self.ok, "attempts": data["attempts"], "successes": data["successes"],
                "success_rate": data["success_rate"],
                "latency_ms": {"p50": data["latency_ms"]["p50"], "p95": data["latency_ms"]["p95"]},
                "reason": reason, "error": self.report.last_error.get(reason) if reason else None,
                "peer_fingerprint": (data["peer_fingerprints"] or [None])[0]}


@dataclass
class FleetReport:
    inventory: str
    suite: Suite
    count: int
    concurrency: int
    outcomes: list[PeerOutcome]
    seconds: float
    metrics: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[PeerOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def unreachable(self) -> bool:
        """No peer could be reached at all (exit 4, as for a single probe)."""
        return all(outcome.report.unreachable for outcome in self.outcomes)

    def to_dict(self) -> dict:
        return {"inventory": self.inventory, "suite": self.suite.describe(), "count": self.count,
                "concurrency": self.concurrency, "peers": [outcome.to_dict() for outcome in self.outcomes],
                "summary": {"peers": len(self.outcomes), "ok": len(self.outcomes) - len(self.failed),
                            "failed": len(self.failed)},
                "failed_peers": [outcome.peer.name for outcome in self.failed], "seconds": round(self.seconds, 3),
                "ok": self.ok, "metrics": self.metrics}


def probe_fleet(request: FleetRequest, peers: list[FleetPeer], suite: Suite, identity: Identity, *,
                metrics: HandshakeMetrics | None = None,
                progress: Callable[[int, int], None] | None = None) -> FleetReport:
    """Probe every peer (`count` sequential handshakes each, `concurrency` peers at a time), each pinned
    to its own fingerprint. A peer without one is refused unless `insecure_any_peer`."""
    unpinned = [peer.name for peer in peers if peer.fingerprint is None]
    if unpinned and not request.insecure_any_peer:
        raise UsageError(f"inventory {request.inventory}: no fingerprint for {', '.join(unpinned)} (give one per "
                         "peer, or --insecure-any-peer to accept any key)")
    if request.insecure_any_peer and len(unpinned) < len(peers):
        raise UsageError("--insecure-any-peer contradicts the fingerprints in the inventory: give one or the other")
    done, done_lock, began = [0], threading.Lock(), time.perf_counter()

    def one(peer: FleetPeer) -> PeerOutcome:
        pin = PeerPin.any() if peer.fingerprint is None else PeerPin(fingerprints=[peer.fingerprint])
        report = run_probe(peer.host, peer.port, suite, identity, pin=pin, count=request.count,
                           timeout=request.timeout, max_payload=request.max_payload,
                           metrics=metrics.for_peer(peer.name) if metrics is not None else None)
        checks = slo_checks(report.tally, request.min_success_rate, request.max_p95_ms or 0.0)
        report.slo = checks if request.max_p95_ms is not None else {"success_rate": checks["success_rate"]}
        if progress is not None:
            with done_lock:
                done[0] += 1
                progress(done[0], len(peers))
        return PeerOutcome(peer, report)

    with ThreadPoolExecutor(max_workers=max(1, min(request.concurrency, len(peers))),
                            thread_name_prefix="x0ctl-probe") as pool:
        outcomes = list(pool.map(one, peers))
    return FleetReport(str(request.inventory), suite, request.count, request.concurrency, outcomes,
                       time.perf_counter() - began)


__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_PORT", "FleetPeer", "FleetReport", "FleetRequest", "PeerOutcome",
           "load_fleet", "probe_fleet"]
