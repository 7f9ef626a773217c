"""A deterministic discrete-event simulation of the control plane under Byzantine attack.

Every node holds a real ML-DSA-65 key; every message is really signed and (once per distinct
message, see `MessageCache`) really verified. Honest nodes run the library's `Verifier`,
`Reputation` and `QuorumTracker` under a `Rules` object (`x0ctl.quorum.rules`); Byzantine nodes
are driven by the strategies in `x0ctl.quorum.scenario.STRATEGIES`, or by an operator-written
`Adversary` (`x0ctl.quorum.adversary`). All choices come from `random.Random(seed)`, never from the
clock, so one seed gives one result (wall-clock timings aside). Signature bytes differ between runs
(ML-DSA signing is hedged) but nothing decided depends on them, which is what `crypto="modelled"`
relies on: signatures become `SignatureFact`s (a simulation model, see `x0ctl.quorum.protocol`),
no ML-DSA signing or verification runs, and every decision is the same as with real signatures.

The adversary is strong: it sees all traffic (it can replay anything sent on any link) and
coordinates its nodes. It cannot sign with an honest node's key, and it does not control the
network (latency, loss and partitions follow the scenario).
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from x0ctl.quorum.adversary import AdversaryControl, Observed, rotation_seed
from x0ctl.quorum.consensus import COUNTED, EQUIVOCATION, QuorumTracker
from x0ctl.quorum.protocol import (
    ATTEST,
    BEACON,
    ROTATION_CONTEXT,
    SIGNATURE_ALGORITHM,
    SIGNING_CONTEXT,
    Identity,
    REAL_CRYPTO,
    MessageCache,
    SignedMessage,
    encode_body,
    rotation_statement,
    signature_text,
    signatures_for,
)
from x0ctl.quorum.events import (
    CONTESTED_SLOT,
    DOWN,
    GOVERNANCE_PROPOSAL,
    HONEST_PROPOSAL_SLOT,
    HONEST_PROPOSAL_VALUE,
    NODE_FAILURE,
    failure_event,
    proposal_event,
)
from x0ctl.quorum.report import build_result
from x0ctl.quorum.rules import X0CTL_RULES, Rules
from x0ctl.quorum.scenario import Scenario
from x0ctl.quorum.verifier import Verifier

# Scheduler entry kinds (small ints: the event loop is the hot path).
_DELIVER, _SYNC_BUNDLE, _BEACON, _SEND, _SYNC, _ROTATE, _PROPOSE, _ATTACK, _FLOOD, _CRASH, _ADVERSARY = range(11)
ADVERSARY_STRATEGY = "adversary"


# A broadcast message in flight (a "wire") is one scheduler entry for its next receipt, not one
# entry per receipt: the same total order of events, with a heap operation only when another event
# falls between two receipts of this message. Its state is a list, unpacked in one step by the
# event loop: [receipts, position of the next one, then what is the same for every receiver: the
# message, its decoded body, the link neighbour's id, the claimed sender's index (None when not a
# member), the neighbour's rejection counter (None when honest), whether it is an attestation].
# Receipts are (arrival ms, sequence number, target index), sorted; wires carry honest targets only.
_WIRE_POSITION = 1


@dataclass
class _Honest:
    index: int
    identity: Identity
    verifier: Verifier
    tracker: QuorumTracker
    last_heard: list
    attested: set = field(default_factory=set)
    own_attestations: dict = field(default_factory=dict)  # event -> (value, time attested)
    next_send_ms: float = 0.0
    partitioned: bool = False
    rejoined_at: float = 0.0
    missing_since: dict = field(default_factory=dict)  # peer -> first check that found it silent
    partition_log: list = field(default_factory=list)  # (time ms, partitioned?)
    sync_events: dict = field(default_factory=dict)  # event -> [last activity ms, [held attestation], {values}]
    have: set = field(default_factory=set)  # bodies of attestations already counted
    decided_at: dict = field(default_factory=dict)


@dataclass
class _Byzantine:
    index: int
    identity: Identity
    strategies: frozenset
    crashed: bool = False
    sent: int = 0


class Simulation:
    """One run of one scenario. `run()` returns the result dictionary (see docs/quorum.md)."""

    def __init__(self, scenario: Scenario, backend, *, rules: Rules = X0CTL_RULES, adversary=None,
                 adversary_label: str | None = None, progress=None, crypto: str = REAL_CRYPTO) -> None:
        self.scenario = scenario.resolved().validate()
        self.backend = backend
        self.progress = progress
        self.rules = rules
        s = self.scenario
        self.n, self.f = s.nodes, s.byzantine
        self.q, self.f_max = rules.threshold(self.n), rules.tolerated_faults(self.n)
        self.rng = random.Random(s.seed)
        self.adversary_rng = random.Random(self.rng.getrandbits(64))
        self.scheme = backend.sig(SIGNATURE_ALGORITHM)
        self.signatures = signatures_for(crypto, self.scheme)
        self.crypto = crypto
        self.cache = MessageCache(self.scheme, self.signatures)
        self.duration_ms = s.duration_s * 1000.0
        self.beacon_ms = s.protocol.beacon_period_s * 1000.0
        self.suspect_ms = s.protocol.suspect_after_s * 1000.0
        self.sync_ms = s.protocol.sync_period_s * 1000.0
        self.sync_window_ms = 6 * self.sync_ms
        self.send_gap_ms = 1000.0 / s.protocol.send_rate
        self.loss = s.network.loss
        self.jitter = s.network.jitter_ms

        setup_started = time.perf_counter()
        byzantine = set(self.rng.sample(range(self.n), self.f))  # the second draw: see byzantine_indices()
        self.identities = [Identity(self.scheme, self.scheme.from_seed(self.rng.randbytes(32)), self.signatures) for _ in range(self.n)]
        self.ids = [identity.node_id for identity in self.identities]
        self.index_of = {node_id: index for index, node_id in enumerate(self.ids)}
        members = {identity.node_id: identity.public_key for identity in self.identities}
        membership = frozenset(members)
        median, sigma = s.network.latency_median_ms, s.network.latency_sigma
        self.latency = [[median * math.exp(sigma * self.rng.gauss(0.0, 1.0)) if sigma else median
                         for _ in range(self.n)] for _ in range(self.n)]
        self.side = [[0] * self.n for _ in s.partitions]
        for number, partition in enumerate(s.partitions):
            boundary = partition.split * self.n
            self.side[number] = [0 if index < boundary else 1 for index in range(self.n)]

        self.nodes: list = []
        self.honest: list[_Honest] = []
        self.byzantine: list[_Byzantine] = []
        # Every public key of the run by key id: what a message naming a key id could carry (read by
        # rules that verify against the carried key; kept current by every rotation).
        self.carried_keys = {identity.key_id: identity.public_key for identity in self.identities}
        for index, identity in enumerate(self.identities):
            if index in byzantine:
                strategy = (ADVERSARY_STRATEGY if adversary is not None
                            else s.strategies[len(self.byzantine) % len(s.strategies)])
                node = _Byzantine(index, identity, frozenset(strategy.split("+")))
                self.byzantine.append(node)
            else:
                reputation = rules.reputation()
                verifier = rules.verifier(identity, members, self.cache, rate_limit=s.protocol.rate_limit,
                                          freshness_ms=int(s.protocol.freshness_window_s * 1000),
                                          reputation=reputation, carried_keys=self.carried_keys)
                node = _Honest(index, identity, verifier, rules.tracker(membership, reputation, self.q), [0.0] * self.n)
                self.honest.append(node)
            self.nodes.append(node)
        self.honest_indices = [node.index for node in self.honest]
        self.verifiers = [node.verifier if isinstance(node, _Honest) else None for node in self.nodes]
        # Rejections caused by each Byzantine node, per strategy label (None for honest nodes).
        self.rejections_by_strategy: dict[str, Counter] = {}
        self.strategy_counts = [None if isinstance(node, _Honest) else self.rejections_by_strategy.setdefault(
            "+".join(sorted(node.strategies)), Counter()) for node in self.nodes]
        self.setup_seconds = time.perf_counter() - setup_started

        self.queue: list = []
        self.seq = 0
        self.now = 0.0
        self.sent = 0
        self.deliveries = 0
        self.equivocations_detected = 0
        self.crashed_at: dict[int, float] = {}
        self.captured: dict[int, list] = {}  # honest index -> beacons seen on the wire, oldest first
        self.forged_signatures = 0
        self.false_accusations: list = []  # (victim id, victim epoch, time)
        self.proposed_at: float | None = None
        self.honest_set = set(self.honest_indices)
        self.byzantine_indices = {node.index for node in self.byzantine}
        # Every attestation signed in the run, as (signer index, event, value): what validity is judged by.
        self.statements: set = set()
        self.reports: list = []  # honest failure reports: (reporter index, subject index, time)
        proposal_ms = s.protocol.proposal_at_s * 1000.0
        self.honest_proposal = (proposal_event(self.ids[self.honest[0].index], HONEST_PROPOSAL_SLOT), proposal_ms) \
            if self.honest and proposal_ms < self.duration_ms else None
        self.adversary = None
        if adversary is not None:
            self.adversary = AdversaryControl(self, adversary, adversary_label or type(adversary).__name__)

    def _push(self, at: float, kind: int, *args) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, args))

    def _split(self, a: int, b: int, at: float) -> bool:
        for number, partition in enumerate(self.scenario.partitions):
            if partition.start_s * 1000.0 <= at < partition.heal_s * 1000.0:
                side = self.side[number]
                if side[a] != side[b]:
                    return True
        return False

    def _broadcast(self, source: int, message: SignedMessage, at: float, targets=None) -> None:
        """Put one message on the wire from `source` to every honest node (or `targets`)."""
        self.sent += 1
        random_, latency, loss, jitter = self.rng.random, self.latency[source], self.loss, self.jitter
        numbers = itertools.count(self.seq + 1)
        # Per target, in this order: the loss draw, the partition check, then the jitter draw (the
        # order of the random draws is part of what a seed reproduces).
        if self.scenario.partitions:
            split = self._split
            receipts = [(at + latency[target] + random_() * jitter, next(numbers), target)
                        for target in (self.honest_indices if targets is None else targets)
                        if target != source and random_() >= loss and not split(source, target, at)]
        else:
            receipts = [(at + latency[target] + random_() * jitter, next(numbers), target)
                        for target in (self.honest_indices if targets is None else targets)
                        if target != source and random_() >= loss]
        self.seq += len(receipts)
        if targets is not None:  # a Byzantine receiver ignores what it is sent; wires carry honest receipts only
            receipts = [receipt for receipt in receipts if receipt[2] in self.honest_set]
        if not receipts:
            return
        receipts.sort()
        decoded = self.cache.decode(message.body)
        via_id, counts = self.ids[source], self.strategy_counts[source]
        if decoded is not None:
            receipts = self._drop_refused(receipts, via_id, decoded.sender, counts)
            if not receipts:
                return
        sender = None if decoded is None else self.index_of.get(decoded.sender)
        attestation = decoded is not None and decoded.kind == ATTEST
        wire = [receipts, 0, message, decoded, via_id, sender, counts, attestation]
        first_at, first_seq, _ = receipts[0]
        heapq.heappush(self.queue, (first_at, first_seq, _DELIVER, wire))

    def _drop_refused(self, receipts: list, via_id: str, sender_id: str, counts) -> list:
        """The receipts whose receiver will read the message. A receiver that has already
        quarantined the link neighbour or the claimed sender will drop it whenever it arrives
        (quarantine is sticky under x0ctl's rules; a rule set whose quarantine expires answers no
        here and decides at arrival): counted now, as `screen()` would count
        it at arrival, if it arrives before the end of the run."""
        verifiers, end = self.verifiers, self.duration_ms
        kept = []
        for receipt in receipts:
            verifier = verifiers[receipt[2]]
            if not verifier.refuses(via_id, sender_id):
                kept.append(receipt)
            elif receipt[0] < end:
                verifier.count_refused()
                self.deliveries += 1
                if counts is not None:
                    counts["quarantined"] += 1
        return kept

    def _nonce(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _send_own(self, node: _Honest, kind: str, payload: dict, at: float) -> SignedMessage:
        """Sign and send, paced below the rate limit (the node's own outbound budget)."""
        send_at = max(at, node.next_send_ms)
        node.next_send_ms = send_at + self.send_gap_ms
        message = node.identity.sign(kind, self._nonce(), int(send_at), payload)
        if send_at > at:
            self._push(send_at, _SEND, node.index, message, kind)
        else:
            self._send_now(node.index, message, at, kind)
        return message

    def _send_now(self, index: int, message: SignedMessage, at: float, kind: str) -> None:
        if index in self.honest_set:
            if kind == BEACON:
                self.captured.setdefault(index, []).append(message)
            if self.adversary is not None and self.adversary.observes:
                self._observe(index, message, at)
        self._broadcast(index, message, at)

    def _observe(self, index: int, message: SignedMessage, at: float) -> None:
        decoded = self.cache.decode(message.body)
        ids = self.ids
        sent = Observed(at, ids[index], message, None if decoded is None else decoded.kind,
                        None if decoded is None else decoded.event, None if decoded is None else decoded.value,
                        tuple(ids[target] for target in range(self.n) if target != index))
        self.adversary.call(self.adversary.adversary.observe, sent)

    def _attest(self, node: _Honest, event: tuple, value: str, at: float) -> None:
        node.attested.add(event)
        node.own_attestations[event] = (value, at)
        event_type, subject, slot = event
        message = self._send_own(node, ATTEST, {"type": event_type, "subject": subject, "slot": slot,
                                                "value": value}, at)
        node.have.add(message.body)
        self.statements.add((node.index, event, value))
        self._hold(node, event, message, self.cache.decode(message.body), at)
        self._count(node, node.identity.node_id, event, value, at)

    def _count(self, node: _Honest, attester: str, event: tuple, value: str, at: float) -> str:
        outcome, decision = node.tracker.add(attester, event, value, at)
        if outcome == EQUIVOCATION:
            self.equivocations_detected += 1
            self._reject(node, "equivocation", self.index_of[attester])
        if decision is not None:
            node.decided_at[event] = (decision.value, at)
            entry = node.sync_events.get(event)
            if entry is not None:
                entry[0] = at
        return outcome

    def _deliver(self, node, message: SignedMessage, via: int, at: float, relayed: bool = False) -> None:
        if not isinstance(node, _Honest):
            return
        if relayed and message.body in node.have:
            return
        self.deliveries += 1
        decoded = self.cache.decode(message.body)
        rejected = node.verifier.screen(message, decoded, self.ids[via], int(at), relayed)
        if rejected is not None:
            self._attribute(rejected.reason, via)
            return
        sender = self.index_of[decoded.sender]
        if not relayed:
            node.last_heard[sender] = at
        if decoded.kind == ATTEST:
            self._take_attestation(node, message, decoded, sender, at, relayed)

    def _take_attestation(self, node: _Honest, message: SignedMessage, decoded, sender: int, at: float,
                          relayed: bool) -> None:
        event, value = decoded.event, decoded.value
        node.have.add(message.body)
        if event[0] == NODE_FAILURE and event[1] not in self.index_of:
            return
        # A failure report is an observation ("the signer has not heard the subject"), counted and
        # never held against its signer: a receiver cannot tell a lie from asymmetric reachability.
        outcome = self._count(node, decoded.sender, event, value, at)
        if outcome == COUNTED or outcome == EQUIVOCATION:
            self._hold(node, event, message, decoded, at)
        if event not in node.attested and self.rules.endorses(event, decoded.sender):
            # Proposer authority: the owner's signed value, endorsed once, partitioned or not (a vote
            # is not a decision; a side without the quorum cannot decide anyway).
            self._attest(node, event, value, at)

    def _reject(self, node: _Honest, reason: str, culprit: int) -> None:
        node.verifier.rejections[reason] = node.verifier.rejections.get(reason, 0) + 1
        self._attribute(reason, culprit)

    def _attribute(self, reason: str, culprit: int) -> None:
        counts = self.strategy_counts[culprit]
        if counts is not None:
            counts[reason] += 1

    def _beacon(self, index: int, at: float) -> None:
        node = self.nodes[index]
        self._push(at + self.beacon_ms, _BEACON, index)
        if isinstance(node, _Byzantine):
            if not node.crashed:
                targets = None if self.adversary is None else self.adversary.beacon_targets(index, at)
                if targets is None or targets:  # an empty set of receivers withholds the beacon
                    message = node.identity.sign(BEACON, self._nonce(), int(at), {})
                    node.sent += 1
                    if targets is None:
                        self._send_now(index, message, at, BEACON)
                    else:
                        self._broadcast(index, message, at, targets=targets)
            return
        self._send_own(node, BEACON, {}, at)
        self._detect(node, at)

    def _detect(self, node: _Honest, at: float) -> None:
        """The failure detector: suspects silent peers; too many at once means a partition, not crashes."""
        limit = at - self.suspect_ms
        last_heard, ids = node.last_heard, self.ids
        quarantined = node.verifier.reputation.quarantined
        # Quarantined peers are known bad, not unreachable: their traffic is dropped unread, so
        # silence from them says nothing about their liveness and never becomes a failure report.
        missing = [peer for peer in range(self.n)
                   if peer != node.index and last_heard[peer] < limit and ids[peer] not in quarantined]
        reachable = self.n - len(missing) - len(quarantined)
        previous = node.missing_since
        node.missing_since = {peer: previous.get(peer, at) for peer in missing}
        partitioned = reachable < self.q or len(missing) > self.f_max
        if partitioned != node.partitioned:
            node.partitioned = partitioned
            node.partition_log.append((at, partitioned))
            node.rejoined_at = at
        if (partitioned and not self.rules.reports_while_partitioned()) or at - node.rejoined_at < self.suspect_ms:
            # Split: keep operating (beacons, votes, verification) but report no failures: silence across
            # a split says nothing about a crash. Just rejoined: peers from the other side have not had
            # a full detection window to be heard again.
            return
        registry = node.verifier.registry
        for peer in missing:
            if at - node.missing_since[peer] < self.beacon_ms:
                continue  # confirm at the next check: a split shows itself a few beacons later
            subject = self.ids[peer]
            event = failure_event(subject, registry[subject].epoch)
            if event not in node.attested:
                self.reports.append((node.index, peer, at))
                self._attest(node, event, DOWN, at)

    def _hold(self, node: _Honest, event: tuple, message: SignedMessage, decoded, at: float) -> None:
        # Kept with the message, for every anti-entropy round to read: its epoch and value, and this
        # node's registry record of its signer (updated in place when the signer's key rotates).
        held = (message, decoded.epoch, node.verifier.registry[decoded.sender], decoded.value)
        entry = node.sync_events.get(event)
        if entry is None:
            node.sync_events[event] = [at, [held], {decoded.value}]
        else:
            entry[0] = at
            entry[1].append(held)
            entry[2].add(decoded.value)

    def _sync(self, index: int, at: float) -> None:
        node = self.nodes[index]
        self._push(at + self.sync_ms, _SYNC, index)
        # Votes travel for a window after the event last saw activity here (a new vote, or its
        # validation): peers that missed them can still catch up, and old events stop costing.
        horizon = at - self.sync_window_ms
        for event in [event for event, entry in node.sync_events.items() if entry[0] < horizon]:
            del node.sync_events[event]
        limit = at - self.suspect_ms
        quarantined, ids = node.verifier.reputation.quarantined, self.ids
        peers = [peer for peer in range(self.n)
                 if peer != index and node.last_heard[peer] >= limit and ids[peer] not in quarantined]
        if not peers:
            return
        self._send_bundle(node, peers[self.rng.randrange(len(peers))], at, reply=True)

    def _send_bundle(self, node: _Honest, peer: int, at: float, reply: bool) -> None:
        """Anti-entropy, push-pull, after a digest exchange: the votes the peer still needs (every vote
        of events it has not validated, and votes contrary to what it validated, which may prove
        equivocation); the receiver of a pushed bundle answers with its own."""
        if self.rng.random() < self.loss or self._split(node.index, peer, at):
            return
        target = self.nodes[peer]
        honest = isinstance(target, _Honest)
        decided = target.decided_at if honest else {}
        # The digest also says which attestations the peer holds: those stay home (the peer would
        # drop them unread). A Byzantine peer is sent nothing it could use; the exchange is kept
        # for its place in the seeded random stream.
        have = target.have if honest else None
        needed = False
        bundle = []
        for event, (_, held, values) in node.sync_events.items():
            settled = decided.get(event)
            if settled is not None and len(values) == 1 and settled[0] in values:
                continue  # every vote held here is for the value the peer validated
            for message, epoch, signer, value in held:
                if epoch < signer.epoch and not self.rules.votes_outlive_rotation():
                    continue  # rotation made it stale
                if settled is not None and value == settled[0]:
                    continue  # the peer validated this value already; only contrary votes still matter
                needed = True
                if have is not None and message.body not in have:
                    bundle.append(message)
        if needed or reply:  # an empty push still asks the peer for its votes
            arrival = at + self.latency[node.index][peer] + self.rng.random() * self.jitter
            if honest and (bundle or reply):
                self._push(arrival, _SYNC_BUNDLE, peer, bundle, node.index, reply)

    def adversary_send(self, index: int, message: SignedMessage, targets) -> None:
        node = self.nodes[index]
        node.sent += 1
        self._broadcast(index, message, self.now, targets=targets)

    def adversary_rotate(self, index: int) -> None:
        identity = self.identities[index]
        identity.rotate(self.scheme.from_seed(rotation_seed(self.scenario.seed, index, identity.epoch + 1)))
        self.carried_keys[identity.key_id] = identity.public_key

    def adversary_at(self, at: float, callback) -> None:
        self._push(at, _ADVERSARY, callback)

    def record_statement(self, index: int, message: SignedMessage) -> None:
        decoded = self.cache.decode(message.body)
        if decoded is not None and decoded.event is not None:
            self.statements.add((index, decoded.event, decoded.value))

    def _rotate(self, index: int, at: float) -> None:
        node = self.nodes[index]
        node.identity.rotate(self.scheme.from_seed(self.rng.randbytes(32)))
        self.carried_keys[node.identity.key_id] = node.identity.public_key
        if not isinstance(node, _Honest):
            return
        # Statements signed under the retired key become stale at every peer that learns the new
        # one; re-issue the recent ones so that events still collecting votes do not lose this vote.
        horizon = at - self.sync_window_ms
        for event, (value, attested_at) in list(node.own_attestations.items()):
            if attested_at >= horizon:
                self._attest(node, event, value, at)

    def _attack(self, index: int, at: float) -> None:
        node: _Byzantine = self.nodes[index]
        if node.crashed:
            return
        attack = self.scenario.attack
        strategies = node.strategies
        rng = self.adversary_rng
        victims = self.honest_indices
        if "replay" in strategies:
            self._replay(node, at)
        if "forge" in strategies and victims:
            victim = self.identities[victims[rng.randrange(len(victims))]]
            body = encode_body(kind=BEACON, sender=victim.node_id, key_id=victim.key_id, epoch=victim.epoch,
                               nonce=self._nonce(), timestamp_ms=int(at), payload={})
            own = node.identity
            self._adversary_send(node, SignedMessage(body, self.signatures.sign(own.private_key, own.key_id, body,
                                                                                SIGNING_CONTEXT)), at)
        if "key_substitution" in strategies and victims:
            victim = self.identities[victims[rng.randrange(len(victims))]]
            own = node.identity
            if rng.random() < 0.5:  # announce the attacker's key as the victim's next key
                epoch = victim.epoch + 1
                statement = rotation_statement(victim.node_id, epoch, own.public_key)
                payload = {"rotate": {"pk": own.public_key.hex(), "epoch": epoch,
                                      "sig": signature_text(self.signatures.sign(
                                          own.private_key, own.key_id, statement, ROTATION_CONTEXT))}}
            else:  # sign as the victim under the attacker's key id
                epoch, payload = victim.epoch, {}
            body = encode_body(kind=BEACON, sender=victim.node_id, key_id=own.key_id, epoch=epoch,
                               nonce=self._nonce(), timestamp_ms=int(at), payload=payload)
            self._adversary_send(node, SignedMessage(body, self.signatures.sign(own.private_key, own.key_id, body,
                                                                                SIGNING_CONTEXT)), at)
        if at + attack.period_s * 1000.0 < self.duration_ms and strategies & {"replay", "forge", "key_substitution"}:
            self._push(at + attack.period_s * 1000.0, _ATTACK, index)

    def _adversary_send(self, node: _Byzantine, message: SignedMessage, at: float) -> None:
        self.forged_signatures += 1
        node.sent += 1
        self._broadcast(node.index, message, at)

    def _replay(self, node: _Byzantine, at: float) -> None:
        if not self.captured:
            return
        rng = self.adversary_rng
        victims = sorted(self.captured)
        victim = victims[rng.randrange(len(victims))]
        beacons = self.captured[victim]
        node.sent += 1
        self._broadcast(node.index, beacons[-1], at)  # a fresh capture: nonce already seen -> replay
        current = self.identities[victim].epoch
        old = next((m for m in beacons if self.cache.decode(m.body).epoch < current), None)
        if old is not None:  # from before the victim's key rotation -> stale epoch
            node.sent += 1
            self._broadcast(node.index, old, at)
        if len(beacons) > 64:
            del beacons[1:-32]  # keep the oldest (pre-rotation) and the recent ones

    def _false_reports(self, at: float, round_number: int) -> None:
        accusers = [node for node in self.byzantine if "false_report" in node.strategies and not node.crashed]
        if not accusers or not self.honest_indices:
            return
        victim = self.identities[self.honest_indices[self.adversary_rng.randrange(len(self.honest_indices))]]
        for node in accusers:
            message = node.identity.sign(ATTEST, self._nonce(), int(at), {
                "type": NODE_FAILURE, "subject": victim.node_id, "slot": victim.epoch, "value": DOWN})
            self.record_statement(node.index, message)
            node.sent += 1
            self._broadcast(node.index, message, at)
        self.false_accusations.append((victim.node_id, victim.epoch, at))
        period = self.scenario.attack.accuse_period_s * 1000.0
        if at + period < self.duration_ms:
            self._push(at + period, _ATTACK, -1, round_number + 1)

    def _equivocate(self, at: float) -> None:
        equivocators = [node for node in self.byzantine if "equivocate" in node.strategies and not node.crashed]
        if not equivocators:
            return
        half = (len(self.honest_indices) + 1) // 2
        group_a, group_b = self.honest_indices[:half], self.honest_indices[half:]
        # The first equivocator owns the contested slot and proposes both values; the others back
        # each value to the half that was shown it.
        owner = self.ids[equivocators[0].index]
        for node in equivocators:
            for value, group in (("proposal-A", group_a), ("proposal-B", group_b)):
                message = node.identity.sign(ATTEST, self._nonce(), int(at), {
                    "type": GOVERNANCE_PROPOSAL, "subject": owner, "slot": CONTESTED_SLOT, "value": value})
                self.record_statement(node.index, message)
                node.sent += 1
                self._broadcast(node.index, message, at, targets=group)

    def _flood(self, index: int, at: float, until: float) -> None:
        node = self.nodes[index]
        if node.crashed:
            return
        node.sent += 1
        self._send_now(index, node.identity.sign(BEACON, self._nonce(), int(at), {"flood": True}), at, BEACON)
        next_at = at + 1000.0 / self.scenario.attack.flood_rate
        if next_at < until:
            self._push(next_at, _FLOOD, index, until)

    def run(self) -> dict:
        s = self.scenario
        rng = self.rng
        for node in self.nodes:
            self._push(rng.uniform(0.0, self.beacon_ms), _BEACON, node.index)
            if isinstance(node, _Honest):
                self._push(self.sync_ms + rng.uniform(0.0, self.sync_ms), _SYNC, node.index)
        attack_ms = s.attack.start_s * 1000.0
        rotation_ms = s.protocol.key_rotation_at_s * 1000.0
        for node in self.honest:
            if rotation_ms < self.duration_ms:
                self._push(rotation_ms + rng.uniform(0.0, self.beacon_ms), _ROTATE, node.index)
        if self.honest_proposal is not None:
            self._push(self.honest_proposal[1], _PROPOSE, self.honest[0].index)
        for node in self.byzantine:
            if "silent" in node.strategies:
                self._push(attack_ms, _CRASH, node.index)
            if node.strategies & {"replay", "forge", "key_substitution"}:
                self._push(attack_ms + rng.uniform(0.0, s.attack.period_s * 1000.0), _ATTACK, node.index)
            if "flood" in node.strategies and s.attack.flood_rate > 0:
                self._push(attack_ms, _FLOOD, node.index, attack_ms + s.attack.flood_seconds * 1000.0)
        if any("false_report" in node.strategies for node in self.byzantine):
            self._push(attack_ms, _ATTACK, -1, 0)
        if any("equivocate" in node.strategies for node in self.byzantine):
            self._push(s.attack.equivocate_at_s * 1000.0, _ATTACK, -2)
        if self.adversary is not None:
            self.adversary.call(self.adversary.adversary.start)

        # The loop allocates and frees many small tuples but makes no reference cycles worth a
        # collection (a whole 100-node run leaves a few dozen): the cycle collector only costs here.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._loop()
        finally:
            if collecting:
                gc.enable()
        if self.progress is not None:
            self.progress(self.duration_ms, self.duration_ms)
        return self._results()

    def _loop(self) -> None:
        started, started_cpu = time.perf_counter(), time.process_time()
        queue, nodes, pop = self.queue, self.nodes, heapq.heappop
        end = self.duration_ms
        # The end of the run as an entry that sorts before any event at or after it: the loop stops
        # when it comes out, and a receipt compares against the queue's head alone to know whether
        # it is due before everything else (the run's end included).
        heapq.heappush(queue, (end, -1, _DELIVER, None))
        report_every, next_report = end / 100.0, 0.0
        replace, take_attestation = heapq.heapreplace, self._take_attestation
        progress = self.progress
        received = 0
        # Wires carry honest receivers only: per receiver, its Verifier's receive path and its
        # last-heard table, looked up once for the whole run.
        screens = [node.verifier.screen if isinstance(node, _Honest) else None for node in nodes]
        heard = [node.last_heard if isinstance(node, _Honest) else None for node in nodes]
        following = None  # the next event when already taken off the queue
        while following is not None or queue:
            if following is None:
                following = pop(queue)
            at, _, kind, args = following
            following = None
            if at >= end:
                break
            self.now = at
            if kind == _DELIVER:
                # Direct receipts of a broadcast message (a wire, see `_broadcast`), in order, for as
                # long as none of them is preceded by another event: `_deliver()` with the lookups
                # that are the same for every receiver done once per message (the hot path).
                receipts, position, message, decoded, via_id, sender, counts, attestation = args
                done = len(receipts)
                for index in range(position, done):
                    receipt = receipts[index]
                    if queue[0] < receipt:
                        # Another event (or the end) comes first: it is next, this receipt is queued.
                        done = args[_WIRE_POSITION] = index
                        following = replace(queue, (receipt[0], receipt[1], _DELIVER, args))
                        break
                    at, _, target = receipt
                    rejected = screens[target](message, decoded, via_id, int(at))
                    if rejected is None:
                        heard[target][sender] = at
                        if attestation:
                            take_attestation(nodes[target], message, decoded, sender, at, False)
                    elif counts is not None:
                        counts[rejected.reason] += 1
                received += done - position
                self.now = at
            elif kind == _SYNC_BUNDLE:
                target, bundle, via, reply = args
                node = nodes[target]
                for message in bundle:
                    self._deliver(node, message, via, at, relayed=True)
                if reply and isinstance(node, _Honest) and node.sync_events:
                    self._send_bundle(node, via, at, reply=False)
            elif kind == _BEACON:
                self._beacon(args[0], at)
            elif kind == _SEND:
                self._send_now(args[0], args[1], at, args[2])
            elif kind == _SYNC:
                self._sync(args[0], at)
            elif kind == _ROTATE:
                self._rotate(args[0], at)
            elif kind == _PROPOSE:
                node = nodes[args[0]]
                event = self.honest_proposal[0]
                if event not in node.attested:  # an owner signs one value per slot
                    self._attest(node, event, HONEST_PROPOSAL_VALUE, at)
                self.proposed_at = at
            elif kind == _ATTACK:
                if args[0] == -1:
                    self._false_reports(at, args[1])
                elif args[0] == -2:
                    self._equivocate(at)
                else:
                    self._attack(args[0], at)
            elif kind == _FLOOD:
                self._flood(args[0], at, args[1])
            elif kind == _CRASH:
                nodes[args[0]].crashed = True
                self.crashed_at[args[0]] = at
            elif kind == _ADVERSARY:
                self.adversary.call(args[0])
            if progress is not None and at >= next_report:
                next_report = at + report_every
                progress(at, end)
        self.deliveries += received
        self.loop_seconds = time.perf_counter() - started
        self.loop_cpu_seconds = time.process_time() - started_cpu

    def _results(self) -> dict:
        return build_result(self)


def byzantine_indices(scenario: Scenario) -> list[int]:
    """Which node indices a run of `scenario` makes Byzantine (the run's second random draw, after the
    adversary's seed), so that an action schedule can be written for them before the run."""
    rng = random.Random(scenario.seed)
    rng.getrandbits(64)
    return sorted(rng.sample(range(scenario.nodes), scenario.byzantine))


def simulate(scenario: Scenario, backend, *, rules: Rules = X0CTL_RULES, adversary=None,
             adversary_label: str | None = None, progress=None) -> dict:
    """Run one scenario with `backend` (an `x0ctl.pqc` Backend) and return the result dictionary."""
    return Simulation(scenario, backend, rules=rules, adversary=adversary, adversary_label=adversary_label,
                      progress=progress).run()
