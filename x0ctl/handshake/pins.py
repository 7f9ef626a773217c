"""Who a node talks to: the responder pin of `probe` and the initiator allow-list of `serve`.

Closed by default. `probe` needs the responder's key or fingerprint, or `any_peer=True`
(`--insecure-any-peer`); `serve` needs an allow-list (`--peer-key`, `--peer-fingerprint`,
`--peers-file`) or `any_peer=True` (`--allow-any-peer`). Nothing here falls back to trust on
first use: an unpinned handshake proves only that the peer holds *some* key.

A peers file lists one fingerprint per line (`sha256:<64 hex>`, or at least 32 hex digits of
one); `#` starts a comment, blank lines are ignored:

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "peers")
>>> _ = open(path, "w").write("# node-b\\nsha256:" + "ab" * 32 + "\\n\\n" + "cd" * 16 + "  # node-c\\n")
>>> allow_list(peers_file=path).describe()
['fingerprint abababababababababababababababababababababababababababababababab', 'fingerprint cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd']
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.handshake.identity import load_peer_key
from x0ctl.handshake.protocol import PeerPin, normalize_fingerprint
from x0ctl.pqc.fingerprint import PREFIX, fingerprint
from x0ctl.textfile import read_text

ALGORITHM = "ML-DSA-65"


def read_peers_file(path: str | Path) -> list[str]:
    """The fingerprints listed in a peers file (IOFailure if unreadable, UsageError if malformed)."""
    entries = []
    for number, line in enumerate(read_text(path, "peers file").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            normalize_fingerprint(text)
        except UsageError as exc:
            raise UsageError(f"peers file {path} line {number}: {exc.message}") from None
        entries.append(text)
    if not entries:
        raise UsageError(f"peers file {path} lists no fingerprint")
    return entries


def allow_list(peer_keys: Iterable[str | Path] = (), fingerprints: Iterable[str] = (),
               peers_file: str | Path | None = None, *, any_peer: bool = False) -> PeerPin:
    """The initiators `serve` accepts. UsageError when nothing is named and `any_peer` is not set,
    or when both are given (an allow-list and "anyone" contradict each other)."""
    keys = [load_peer_key(path) for path in peer_keys]
    names = list(fingerprints) + (read_peers_file(peers_file) if peers_file is not None else [])
    if any_peer:
        if keys or names:
            raise UsageError("--allow-any-peer contradicts an allow-list (--peer-key, --peer-fingerprint, "
                             "--peers-file): give one or the other")
        return PeerPin.any()
    if not keys and not names:
        raise UsageError("serve needs an allow-list of initiators: --peer-key FILE, --peer-fingerprint FP or "
                         "--peers-file FILE; or --allow-any-peer to accept any authenticated key (no authorization)")
    return PeerPin(keys, names)


def responder_pin(peer_key: str | Path | None = None, peer_fingerprint: str | None = None, *,
                  any_peer: bool = False) -> PeerPin:
    """The responder `probe` accepts: its key (file) and/or fingerprint, which must agree, or
    PeerPin.any() when `any_peer` is set. UsageError when neither is given."""
    if any_peer:
        if peer_key is not None or peer_fingerprint is not None:
            raise UsageError("--insecure-any-peer contradicts --peer-key/--peer-fingerprint: give one or the other")
        return PeerPin.any()
    if peer_key is None and peer_fingerprint is None:
        raise UsageError("probe needs the responder's identity: --peer-key FILE or --peer-fingerprint FP; or "
                         "--insecure-any-peer to accept any key (proves nothing about who answered)")
    keys = [load_peer_key(peer_key)] if peer_key is not None else []
    if keys and peer_fingerprint is not None:
        actual = fingerprint(ALGORITHM, keys[0]).removeprefix(PREFIX)
        if not actual.startswith(normalize_fingerprint(peer_fingerprint)):
            raise UsageError(f"--peer-key {peer_key} does not have fingerprint {peer_fingerprint}")
    return PeerPin(keys, [peer_fingerprint] if peer_fingerprint is not None and not keys else [])
