"""The adversary interface: operator-written code that controls every Byzantine node of a simulation.

An adversary is a subclass of `Adversary` (hooks `start` and `observe`); the simulator hands it an
`AdversaryControl`, which is everything the standard worst-case adversary can do, and nothing more:

* see all traffic (`observe` is called for every message an honest node puts on the wire, when it is
  sent, with its intended receivers) and the simulated clock (`now_ms`);
* sign any message with the Byzantine nodes' keys (`sign`, `attest`), also in another member's
  name (`sign_as`: the key in the message is the signer's), rotate those keys (`rotate`);
* send any message to any subset of nodes at any time (`send`, `attest(..., to=, at_ms=)`),
  withhold or delay its own messages (`beacons` restricts a Byzantine node's beacons; nothing is
  sent that the adversary does not send);
* read the honest nodes' public state (`view`).

It cannot sign with an honest node's key (`sign` refuses: `AdversaryError`), and it does not
control the network: latency, loss and partitions follow the scenario.

Every action is recorded in `AdversaryControl.actions` (JSON-ready, nodes as indices);
`ScriptedAdversary` plays such a log back, and also takes `attest` steps that name the event's
subject by index (the form `x0ctl quorum fuzz` writes its schedules in, and `x0ctl quorum replay`
plays back).

Loading an adversary from a file (`load_adversary`) runs that file's code with the privileges of
the user who runs x0ctl, like a pytest plugin: only load code you trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.quorum.events import CRITICAL_EVENT_TYPES, DOWN, failure_event, proposal_event
from x0ctl.quorum.protocol import (
    ATTEST,
    BEACON,
    SIGNING_CONTEXT,
    SignedMessage,
    encode_body,
    signature_from_text,
    signature_text,
)


class AdversaryError(UsageError):
    """The adversary code asked for something outside its powers, or failed (exit 2)."""


@dataclass(frozen=True, slots=True)
class Observed:
    """One message put on the wire, as the adversary sees it when it is sent."""

    at_ms: float
    sender: str  # the node that put it on the wire
    message: SignedMessage
    kind: str | None  # "beacon" | "attest" | None when the body is malformed
    event: tuple | None  # (type, subject, slot) for attestations
    value: str | None
    to: tuple  # the intended receivers (node ids)


@dataclass(frozen=True, slots=True)
class HonestView:
    """What an honest node exposes: its decisions, its own votes, whom it quarantined, its partition view."""

    node: str
    decided: dict  # event -> value
    voted: dict  # event -> value (its own attestations)
    quarantined: frozenset
    partitioned: bool
    epoch: int


class Adversary:
    """Base class of an adversary. The defaults make Byzantine members that beacon to everyone and
    attest nothing; override `start` to schedule actions and `observe` to react to traffic."""

    def start(self, net: AdversaryControl) -> None:
        """Called once at time 0, before any message is sent."""

    def observe(self, net: AdversaryControl, sent: Observed) -> None:
        """Called for every message an honest node puts on the wire, at its send time."""


class AdversaryControl:
    """The handle an adversary acts through (see the module docstring). Node arguments are ids."""

    def __init__(self, simulation, adversary: Adversary, label: str) -> None:
        self._sim = simulation
        self.adversary = adversary
        self.label = label
        sim = simulation
        self.members: tuple = tuple(sim.ids)
        self.byzantine: tuple = tuple(sim.ids[node.index] for node in sim.byzantine)
        self.honest: tuple = tuple(sim.ids[index] for index in sim.honest_indices)
        self.n = sim.n
        self.quorum = sim.q
        self.rng = sim.adversary_rng
        self.actions: list[dict] = []
        self._beacon_policy: dict[int, tuple] = {}  # Byzantine index -> (receivers or None, until ms)
        self._signed: dict[bytes, dict] = {}  # body -> how this control signed it (for the log)
        self.observes = type(adversary).observe is not Adversary.observe

    @property
    def now_ms(self) -> float:
        return self._sim.now

    @property
    def honest_proposal(self) -> tuple | None:
        """(event, time ms) of the run's scheduled honest proposal, or None: the schedule is public."""
        return self._sim.honest_proposal

    @property
    def partitions(self) -> list[tuple]:
        """The scenario's partitions as (start ms, heal ms, side A ids, side B ids)."""
        sim = self._sim
        result = []
        for number, partition in enumerate(sim.scenario.partitions):
            side = sim.side[number]
            result.append((partition.start_s * 1000.0, partition.heal_s * 1000.0,
                           frozenset(sim.ids[i] for i in range(sim.n) if side[i] == 0),
                           frozenset(sim.ids[i] for i in range(sim.n) if side[i] == 1)))
        return result

    def index(self, node: str) -> int:
        try:
            return self._sim.index_of[node]
        except KeyError:
            raise AdversaryError(f"adversary {self.label}: {node!r} is not a member") from None

    def _byzantine_index(self, node: str) -> int:
        index = self.index(node)
        if index not in self._sim.byzantine_indices:
            raise AdversaryError(f"adversary {self.label}: cannot act as honest node {node[:20]}… "
                                 f"(it holds no honest key)")
        return index

    def proposal_event(self, owner: str, slot: int) -> tuple:
        return proposal_event(owner, slot)

    def failure_event(self, subject: str) -> tuple:
        """The failure event of `subject` at its current key epoch (as honest reporters name it)."""
        return failure_event(subject, self._sim.identities[self.index(subject)].epoch)

    def view(self, node: str) -> HonestView:
        """An honest node's public state (a copy)."""
        sim = self._sim
        honest = sim.nodes[self.index(node)]
        if honest.index not in sim.honest_set:
            raise AdversaryError(f"adversary {self.label}: view() reads honest nodes only")
        return HonestView(node, {event: entry[0] for event, entry in honest.decided_at.items()},
                          {event: entry[0] for event, entry in honest.own_attestations.items()},
                          frozenset(honest.verifier.reputation.quarantined), honest.partitioned,
                          honest.identity.epoch)

    def sign(self, node: str, kind: str, payload: dict, *, timestamp_ms: int | None = None,
             nonce: str | None = None) -> SignedMessage:
        """A message signed by Byzantine `node` with its current key (kind "beacon" or "attest")."""
        index = self._byzantine_index(node)
        if kind not in (BEACON, ATTEST):
            raise AdversaryError(f"adversary {self.label}: unknown message kind {kind!r}")
        sim = self._sim
        timestamp = int(sim.now) if timestamp_ms is None else int(timestamp_ms)
        nonce = f"{self.rng.getrandbits(64):016x}" if nonce is None else nonce
        message = sim.identities[index].sign(kind, nonce, timestamp, payload)
        sim.record_statement(index, message)
        self._signed[message.body] = {"node": index, "kind": kind, "payload": payload, "ts": timestamp,
                                      "nonce": nonce}
        return message

    def sign_as(self, node: str, claimed: str, kind: str, payload: dict, *, timestamp_ms: int | None = None,
                nonce: str | None = None) -> SignedMessage:
        """A message claiming to come from `claimed` (any member, honest ones included), signed by
        Byzantine `node` with its own key and naming that key: the unbound-sender forgery. Rules that
        bind keys to senders reject it (`key_substitution`); rules that verify a message against the
        key it carries accept it. Nothing honest signed it: it is not recorded as a statement."""
        index = self._byzantine_index(node)
        self.index(claimed)
        if kind not in (BEACON, ATTEST):
            raise AdversaryError(f"adversary {self.label}: unknown message kind {kind!r}")
        sim = self._sim
        own = sim.identities[index]
        body = encode_body(kind=kind, sender=claimed, key_id=own.key_id, epoch=sim.identities[self.index(claimed)].epoch,
                           nonce=f"{self.rng.getrandbits(64):016x}" if nonce is None else nonce,
                           timestamp_ms=int(sim.now) if timestamp_ms is None else int(timestamp_ms), payload=payload)
        sim.forged_signatures += 1
        return SignedMessage(body, sim.signatures.sign(own.private_key, own.key_id, body, SIGNING_CONTEXT))

    def attest(self, node: str, event: tuple, value: str, *, to=None, at_ms: float | None = None) -> SignedMessage:
        """Sign an attestation of `value` for `event` by `node` and send it (see `send`)."""
        event_type, subject, slot = event
        message = self.sign(node, ATTEST, {"type": event_type, "subject": subject, "slot": slot, "value": value},
                            timestamp_ms=None if at_ms is None else int(at_ms))
        self.send(node, message, to=to, at_ms=at_ms)
        return message

    def report_down(self, node: str, subject: str, *, to=None, at_ms: float | None = None) -> SignedMessage:
        return self.attest(node, self.failure_event(subject), DOWN, to=to, at_ms=at_ms)

    def send(self, node: str, message: SignedMessage, *, to=None, at_ms: float | None = None) -> None:
        """Put `message` on the wire from Byzantine `node` to `to` (node ids; None: every node) at
        `at_ms` (None: now; later times delay it). Any message: its own, or one captured on the wire."""
        index = self._byzantine_index(node)
        targets = None if to is None else tuple(sorted({self.index(target) for target in to}))
        sim = self._sim
        if at_ms is not None and at_ms > sim.now:
            self.at(at_ms, lambda net: net._send(index, message, targets))
            return
        self._send(index, message, targets)

    def _send(self, index: int, message: SignedMessage, targets: tuple | None) -> None:
        sim = self._sim
        signed = self._signed.get(message.body)
        entry = {"at": sim.now, "op": "send"}
        if signed is not None and signed["node"] == index:
            entry.update(signed)
        else:
            entry.update(node=index, body=message.body.hex(), sig=signature_text(message.signature))
        entry["to"] = None if targets is None else list(targets)
        self.actions.append(entry)
        sim.adversary_send(index, message, targets)

    def beacons(self, node: str, to, *, until_ms: float | None = None) -> None:
        """From now until `until_ms` (None: the end), Byzantine `node` beacons only to `to` (node ids;
        an empty list withholds its beacons; None restores beacons to everyone)."""
        index = self._byzantine_index(node)
        targets = None if to is None else tuple(sorted({self.index(target) for target in to}))
        self._set_beacons(index, targets, until_ms)

    def _set_beacons(self, index: int, targets: tuple | None, until_ms: float | None) -> None:
        self.actions.append({"at": self._sim.now, "op": "beacons", "node": index,
                             "to": None if targets is None else list(targets), "until": until_ms})
        self._beacon_policy[index] = (targets, float("inf") if until_ms is None else until_ms)

    def beacon_targets(self, index: int, at: float):
        """The receivers of Byzantine `index`'s beacon at `at`: None for everyone."""
        policy = self._beacon_policy.get(index)
        if policy is None or at >= policy[1]:
            return None
        return policy[0]

    def rotate(self, node: str) -> None:
        """Rotate Byzantine `node`'s key: its next messages carry the hand-over (epoch + 1)."""
        index = self._byzantine_index(node)
        self.actions.append({"at": self._sim.now, "op": "rotate", "node": index})
        self._sim.adversary_rotate(index)

    def at(self, at_ms: float, callback) -> None:
        """Call `callback(net)` at simulated time `at_ms` (not before now)."""
        self._sim.adversary_at(max(at_ms, self._sim.now), callback)

    def call(self, callback, *args) -> None:
        """Run adversary code, turning its failures into one clean error."""
        try:
            callback(self, *args)
        except AdversaryError:
            raise
        except Exception as exc:  # the operator's code: any failure is a bad adversary, exit 2
            raise AdversaryError(f"adversary {self.label} failed at t = {self._sim.now / 1000:.3f}s: "
                                 f"{type(exc).__name__}: {exc}") from None


def rotation_seed(scenario_seed: int, index: int, epoch: int) -> bytes:
    """The key seed of a Byzantine node's rotated key: from the scenario, never from the event loop's
    random stream, so that a replayed action log meets the same random draws."""
    return hashlib.sha256(f"x0ctl/quorum/adversary-rotation/{scenario_seed}/{index}/{epoch}".encode()).digest()


class ScriptedAdversary(Adversary):
    """Plays back an action log (the `actions` of an `AdversaryControl`, or a fuzz schedule)."""

    def __init__(self, actions: list[dict]) -> None:
        self.script = [dict(action) for action in actions]

    def start(self, net: AdversaryControl) -> None:
        for action in self.script:
            net.at(float(action["at"]), lambda control, action=action: _perform(control, action))


def _perform(net: AdversaryControl, action: dict) -> None:
    sim = net._sim
    op = action["op"]
    index = int(action["node"])
    if index not in sim.byzantine_indices:
        raise AdversaryError(f"action log: node {index} is not Byzantine in this scenario")
    node = sim.ids[index]
    targets = action.get("to")
    receivers = None if targets is None else [sim.ids[int(target)] for target in targets]
    if op == "send":
        if "body" in action:
            message = SignedMessage(bytes.fromhex(action["body"]), signature_from_text(action["sig"]))
        else:
            message = net.sign(node, action["kind"], action["payload"], timestamp_ms=action["ts"],
                               nonce=action["nonce"])
        net.send(node, message, to=receivers)
    elif op == "attest":
        subject = sim.ids[int(action["subject"])]
        slot = action.get("slot")
        if slot is None:  # a failure report names the subject's current epoch
            event = net.failure_event(subject)
            event = (action["type"], event[1], event[2])
        else:
            event = (action["type"], subject, int(slot))
        net.attest(node, event, action["value"], to=receivers)
    elif op == "beacons":
        net.beacons(node, receivers, until_ms=action.get("until"))
    elif op == "rotate":
        net.rotate(node)
    else:
        raise AdversaryError(f"action log: unknown op {op!r}")


def validate_actions(actions, n: int, where: str) -> list[dict]:
    """Check an action log's shape (counterexample files are operator input)."""
    if not isinstance(actions, list):
        raise UsageError(f"{where}: 'actions' must be a list")
    for number, action in enumerate(actions):
        here = f"{where}: actions[{number}]"
        if not isinstance(action, dict) or action.get("op") not in ("send", "attest", "beacons", "rotate"):
            raise UsageError(f"{here}: expected an object with op send, attest, beacons or rotate")
        at, node = action.get("at"), action.get("node")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise UsageError(f"{here}: 'at' must be a non-negative time in ms")
        if type(node) is not int or not 0 <= node < n:
            raise UsageError(f"{here}: 'node' must be a node index below {n}")
        to = action.get("to")
        if to is not None and (not isinstance(to, list) or not all(type(t) is int and 0 <= t < n for t in to)):
            raise UsageError(f"{here}: 'to' must be null or a list of node indices below {n}")
        until = action.get("until")
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
            raise UsageError(f"{here}: 'until' must be null or a time in ms")
        if action["op"] == "attest":
            subject, slot = action.get("subject"), action.get("slot")
            if action.get("type") not in CRITICAL_EVENT_TYPES or type(subject) is not int or not 0 <= subject < n \
                    or (slot is not None and type(slot) is not int) or not isinstance(action.get("value"), str):
                raise UsageError(f"{here}: an attest needs type (a critical event type), subject (a node index), "
                                 f"slot (an integer or null) and value (a string)")
        if action["op"] == "send" and "body" not in action:
            if action.get("kind") not in (BEACON, ATTEST) or not isinstance(action.get("payload"), dict) \
                    or type(action.get("ts")) is not int or not isinstance(action.get("nonce"), str):
                raise UsageError(f"{here}: a send needs kind, payload, ts and nonce (or body and sig)")
    return actions


def load_adversary(spec: str) -> tuple[type, str]:
    """`FILE.py[:Class]` -> (the Adversary subclass, its label). Without `:Class` the file must define
    exactly one Adversary subclass. The file's code runs with the caller's privileges."""
    path_text, _, class_name = spec.partition(":")
    path = Path(path_text)
    if path.suffix != ".py":
        raise UsageError(f"--adversary: expected FILE.py[:Class], got {spec!r}")
    if not path.is_file():
        raise IOFailure(f"cannot read adversary {path}: no such file")
    module_name = f"x0ctl_adversary_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]}"
    try:
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    except OSError as exc:
        raise IOFailure(f"cannot read adversary {path}: {exc.strerror or type(exc).__name__}") from None
    except Exception as exc:  # the operator's file: a syntax error or a failing import is bad input
        sys.modules.pop(module_name, None)
        raise UsageError(f"{path}: the adversary file does not load: {type(exc).__name__}: {exc}") from None
    candidates = {name: value for name, value in vars(module).items()
                  if inspect.isclass(value) and issubclass(value, Adversary) and value is not Adversary
                  and value.__module__ == module_name}
    if class_name:
        chosen = candidates.get(class_name)
        if chosen is None:
            known = ", ".join(sorted(candidates)) or "none"
            raise UsageError(f"{path}: no Adversary subclass named {class_name!r} (found: {known})")
    elif len(candidates) == 1:
        class_name, chosen = next(iter(candidates.items()))
    else:
        known = ", ".join(sorted(candidates)) or "none"
        raise UsageError(f"{path}: name the adversary class as {path}:Class (Adversary subclasses found: {known})")
    return chosen, f"{path.name}:{class_name}"


def instantiate(adversary_class: type, label: str) -> Adversary:
    try:
        return adversary_class()
    except Exception as exc:  # the operator's constructor
        raise AdversaryError(f"adversary {label} cannot be created: {type(exc).__name__}: {exc}") from None


__all__ = ["Adversary", "AdversaryControl", "AdversaryError", "HonestView", "Observed", "ScriptedAdversary",
           "instantiate", "load_adversary", "validate_actions"]
