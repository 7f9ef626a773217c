"""The control-plane protection as a library: real ML-DSA-65 signatures, every rejection reason."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from x0ctl.quorum import (
    CRITICAL_EVENT_TYPES,
    SIGNING_CONTEXT,
    Identity,
    MessageCache,
    QuorumTracker,
    Reputation,
    Verifier,
    quorum_threshold,
    tolerated_faults,
)
from x0ctl.quorum.consensus import (
    COUNTED,
    DUPLICATE,
    EQUIVOCATION,
    NOT_MEMBER,
)
from x0ctl.quorum.protocol import Decoded, SignedMessage, decode_body, encode_body


@pytest.fixture(scope="module")
def scheme(openssl_backend):
    return openssl_backend.sig("ML-DSA-65")


@pytest.fixture(scope="module")
def keys(scheme):
    """Three identities, generated once: key generation is the slow part."""
    return [scheme.generate() for _ in range(3)]


@pytest.fixture
def mesh(scheme, keys):
    alice, bob, mallory = (Identity(scheme, key) for key in keys)
    members = {node.node_id: node.public_key for node in (alice, bob, mallory)}
    cache = MessageCache(scheme)
    inbox = Verifier(bob.node_id, members, cache)
    return alice, bob, mallory, inbox, cache


def test_a_signed_beacon_is_accepted_and_decoded(mesh):
    alice, _, _, inbox, cache = mesh
    verdict = inbox.check(alice.sign("beacon", "n1", 1_000, {}), alice.node_id, 1_000)
    assert verdict.accepted and verdict.reason is None
    assert verdict.decoded.sender == alice.node_id and verdict.decoded.epoch == 0
    assert cache.real_verifications == 1
    assert alice.node_id.startswith("sha256:")


def test_the_signature_is_real_ml_dsa_under_the_control_plane_context(mesh, scheme):
    alice, *_ = mesh
    message = alice.sign("beacon", "n1", 1_000, {})
    public = scheme.public_key(alice.public_key)
    assert public.verify(message.body, message.signature, SIGNING_CONTEXT)
    assert not public.verify(message.body, message.signature, b"another context")


def test_tampered_body_is_a_forgery_blamed_on_the_neighbour(mesh):
    alice, _, mallory, inbox, _ = mesh
    message = alice.sign("beacon", "n1", 1_000, {})
    tampered = SignedMessage(message.body.replace(b'"n1"', b'"n2"'), message.signature)
    verdict = inbox.check(tampered, mallory.node_id, 1_000)
    assert (verdict.accepted, verdict.reason, verdict.blamed) == (False, "forgery", mallory.node_id)
    assert inbox.reputation.score(mallory.node_id) < 1.0
    assert inbox.reputation.score(alice.node_id) == 1.0  # the impersonated sender is never blamed


def test_signing_in_someone_elses_name_is_a_forgery(mesh):
    alice, _, mallory, inbox, _ = mesh
    body = encode_body(kind="beacon", sender=alice.node_id, key_id=alice.key_id, epoch=0, nonce="x",
                       timestamp_ms=1_000, payload={})
    forged = SignedMessage(body, mallory.private_key.sign(body, SIGNING_CONTEXT))
    assert inbox.check(forged, mallory.node_id, 1_000).reason == "forgery"


def test_a_key_id_that_is_not_the_registered_one_is_key_substitution(mesh):
    alice, _, mallory, inbox, _ = mesh
    body = encode_body(kind="beacon", sender=alice.node_id, key_id=mallory.key_id, epoch=0, nonce="x",
                       timestamp_ms=1_000, payload={})
    substituted = SignedMessage(body, mallory.private_key.sign(body, SIGNING_CONTEXT))
    assert inbox.check(substituted, mallory.node_id, 1_000).reason == "key_substitution"


def test_a_rotation_not_signed_by_the_registered_key_is_refused_and_the_registry_kept(mesh, scheme):
    alice, _, mallory, inbox, _ = mesh
    impostor = Identity(scheme, mallory.private_key)
    impostor.node_id = alice.node_id  # claims to be alice handing over to mallory's key
    impostor.rotate(mallory.private_key)
    verdict = inbox.check(impostor.sign("beacon", "x", 1_000, {}), mallory.node_id, 1_000)
    assert verdict.reason == "key_substitution"
    assert inbox.registry[alice.node_id].public_key == alice.public_key
    assert inbox.registry[alice.node_id].epoch == 0


def test_rotation_increments_the_epoch_and_old_epoch_messages_are_refused(mesh, scheme):
    alice, _, mallory, inbox, _ = mesh
    old = alice.sign("beacon", "before", 1_000, {})
    alice.rotate(scheme.generate())
    assert alice.epoch == 1
    fresh = alice.sign("beacon", "after", 1_100, {})
    assert inbox.check(fresh, alice.node_id, 1_100).accepted
    assert inbox.registry[alice.node_id].epoch == 1
    replayed = inbox.check(old, mallory.node_id, 1_200)
    assert (replayed.reason, replayed.blamed) == ("stale_epoch", mallory.node_id)
    # the signer's own last pre-rotation message arriving late is refused but not held against it
    late = inbox.check(old, alice.node_id, 1_200)
    assert (late.reason, late.blamed) == ("stale_epoch", None)


def test_replays_are_refused_by_nonce_and_by_age(mesh):
    alice, _, mallory, inbox, _ = mesh
    message = alice.sign("beacon", "n1", 1_000, {})
    assert inbox.check(message, alice.node_id, 1_000).accepted
    again = inbox.check(message, alice.node_id, 1_500)
    assert again.reason == "replay"
    relayed = inbox.check(alice.sign("beacon", "n2", 2_000, {}), mallory.node_id, 2_000)
    assert (relayed.reason, relayed.blamed) == ("replay", mallory.node_id)
    stale = alice.sign("beacon", "n3", 1_000, {})
    assert inbox.check(stale, alice.node_id, 1_000 + 31_000).reason == "replay"


def test_rate_limit_is_ten_per_second_then_quarantine(mesh):
    alice, _, _, inbox, _ = mesh
    verdicts = [inbox.check(alice.sign("beacon", f"n{i}", 1_000, {}), alice.node_id, 1_000) for i in range(12)]
    assert [v.accepted for v in verdicts] == [True] * 10 + [False] * 2
    assert verdicts[10].reason == "rate_limited"
    # a second later the bucket has refilled
    assert inbox.check(alice.sign("beacon", "later", 2_000, {}), alice.node_id, 2_000).accepted
    for i in range(40):
        inbox.check(alice.sign("beacon", f"flood{i}", 2_000, {}), alice.node_id, 2_000)
    assert inbox.reputation.is_quarantined(alice.node_id)
    assert inbox.check(alice.sign("beacon", "after", 9_000, {}), alice.node_id, 9_000).reason == "quarantined"


def test_refuses_answers_ahead_what_screen_decides_for_a_quarantined_peer(mesh, scheme):
    alice, bob, mallory, inbox, _ = mesh
    twin = Verifier(bob.node_id, {node.node_id: node.public_key for node in (alice, bob, mallory)}, MessageCache(scheme))
    assert not inbox.refuses(mallory.node_id, alice.node_id)  # nothing quarantined yet
    for verifier in (inbox, twin):
        verifier.reputation.penalise(mallory.node_id, "equivocation", 1_000)
    relayed_by_mallory = alice.sign("beacon", "n1", 2_000, {})
    assert inbox.refuses(mallory.node_id, alice.node_id) and inbox.refuses(alice.node_id, mallory.node_id)
    assert not inbox.refuses(alice.node_id, alice.node_id)
    inbox.count_refused()
    assert twin.check(relayed_by_mallory, mallory.node_id, 2_000).reason == "quarantined"
    assert inbox.rejections == twin.rejections == {"quarantined": 1}
    assert inbox.reputation.scores == twin.reputation.scores  # no blame either way


def test_replay_memory_cannot_be_confused_by_ids_or_caller_built_bodies(scheme, keys):
    """The replay key is derived from sender, epoch and nonce (never passed in), and no choice of
    sender and nonce spells another triple: member ids "n" and "n<NUL>0" with nonces "0<NUL>x" and
    "x" would both read "n<NUL>0<NUL>0<NUL>x" if the parts were only joined."""
    first, second = (scheme.from_seed(bytes([i]) * 32) for i in (1, 2))
    members = {"n": first.public_key(), "n\x000": second.public_key()}
    inbox = Verifier("observer", members, MessageCache(scheme))

    def signed(key, sender, nonce):
        body = encode_body(kind="beacon", sender=sender, key_id=sender, epoch=0, nonce=nonce, timestamp_ms=1_000,
                           payload={})
        return SignedMessage(body, key.sign(body, SIGNING_CONTEXT))

    assert inbox.check(signed(first, "n", "0\x00x"), "n", 1_000).accepted
    assert inbox.check(signed(second, "n\x000", "x"), "n\x000", 1_000).accepted
    again = signed(first, "n", "0\x00x")
    assert inbox.check(again, "n", 1_100).reason == "replay"  # the same triple is still refused
    # A caller-built body (or a replaced field) gets the key of its own fields.
    decoded = inbox.cache.decode(signed(first, "n", "y").body)
    assert dataclasses.replace(decoded, nonce="z").replay_key != decoded.replay_key
    rebuilt = Decoded(decoded.kind, decoded.sender, decoded.key_id, decoded.epoch, decoded.nonce,
                      decoded.timestamp_ms, decoded.payload)
    assert rebuilt.replay_key == decoded.replay_key


def test_verifier_reads_a_replaced_quarantine_and_refuses_an_unusable_rate(mesh, scheme):
    alice, bob, mallory, inbox, cache = mesh
    inbox.reputation.quarantined = {alice.node_id: 0}  # e.g. restored from saved state
    assert inbox.check(alice.sign("beacon", "n1", 1_000, {}), alice.node_id, 1_000).reason == "quarantined"
    assert inbox.refuses(alice.node_id, alice.node_id)
    members = {node.node_id: node.public_key for node in (alice, bob, mallory)}
    for rate in (float("inf"), float("nan"), 0, -1):
        with pytest.raises(ValueError, match="rate_limit"):
            Verifier(bob.node_id, members, cache, rate_limit=rate)


def test_unknown_senders_and_malformed_bodies(mesh, scheme, keys):
    alice, _, _, inbox, _ = mesh
    stranger = Identity(scheme, scheme.from_seed(bytes(32)))
    assert inbox.check(stranger.sign("beacon", "n", 1_000, {}), stranger.node_id, 1_000).reason == "unknown_sender"
    assert inbox.check(SignedMessage(b"{not json", b"sig"), alice.node_id, 1_000).reason == "malformed"
    assert decode_body(encode_body(kind="attest", sender="a", key_id="a", epoch=0, nonce="n", timestamp_ms=0,
                                   payload={"type": "NOT_AN_EVENT", "subject": "x", "slot": 0, "value": "v"})) is None


def test_verification_is_memoised_per_message_not_per_receiver(mesh, scheme):
    alice, bob, mallory, _, cache = mesh
    members = {node.node_id: node.public_key for node in (alice, bob, mallory)}
    receivers = [Verifier(owner.node_id, members, cache) for owner in (bob, mallory)]
    message = alice.sign("beacon", "n1", 1_000, {})
    assert all(r.check(message, alice.node_id, 1_000).accepted for r in receivers)
    assert (cache.real_verifications, cache.cache_hits) == (1, 1)
    # a different key over the same bytes is a different question, verified for real (and false)
    assert not cache.verify(mallory.public_key, message.body, message.signature)
    assert cache.real_verifications == 2


def test_reputation_has_reasons_recovers_slowly_and_quarantines_below_threshold():
    reputation = Reputation()
    assert not reputation.penalise("n", "replay", 1)
    assert reputation.score("n") == pytest.approx(0.8)
    reputation.reward("n")
    assert 0.8 < reputation.score("n") < 0.81
    assert not reputation.penalise("n", "forgery", 2)  # 0.302: still above the 0.3 threshold
    assert reputation.penalise("n", "replay", 3)
    assert reputation.is_quarantined("n")
    assert [change.reason for change in reputation.history] == ["replay", "forgery", "replay"]
    assert all(0.0 <= change.value <= 1.0 for change in reputation.history)
    reputation.release("n", 4)
    assert not reputation.is_quarantined("n") and reputation.history[-1].reason == "operator release"


def _tracker(n: int) -> tuple[QuorumTracker, list[str]]:
    members = [f"node{i}" for i in range(n)]
    return QuorumTracker(frozenset(members), Reputation()), members


def test_quorum_needs_two_thirds_of_distinct_members():
    tracker, members = _tracker(7)
    assert tracker.threshold == 5
    event = ("NODE_FAILURE", "node6", 0)
    outcomes = [tracker.add(member, event, "down", float(i)) for i, member in enumerate(members[:4])]
    assert all(decision is None for _, decision in outcomes)
    assert tracker.add(members[0], event, "down", 9.0) == (DUPLICATE, None)
    assert tracker.add("outsider", event, "down", 9.0) == (NOT_MEMBER, None)
    outcome, decision = tracker.add(members[4], event, "down", 10.0)
    assert outcome == COUNTED and decision is not None and len(decision.attesters) == 5


def test_equivocation_is_punished_and_every_signed_vote_still_counts():
    """A member's second value is proof of equivocation (quarantine), and both its votes count: safe
    within the bound (two quorums share an honest member) and what lets every honest node reach the
    decision another one reached."""
    tracker, members = _tracker(4)  # threshold 3
    event = ("GOVERNANCE_PROPOSAL", "governance", 1)
    tracker.add(members[0], event, "A", 1.0)
    assert tracker.add(members[0], event, "B", 2.0) == (EQUIVOCATION, None)
    assert tracker.add(members[0], event, "B", 2.5) == (DUPLICATE, None)
    assert tracker.reputation.is_quarantined(members[0])
    assert tracker.equivocations[0].values == ("A", "B") and len(tracker.equivocations) == 1
    tracker.add(members[1], event, "A", 3.0)
    assert tracker.support(event, "A") == 2 and tracker.support(event, "B") == 1
    outcome, decision = tracker.add(members[2], event, "A", 4.0)
    assert outcome == COUNTED and decision.value == "A"
    assert decision.attesters == frozenset(members[:3])  # the quarantined member's earlier vote included
    assert tracker.add(members[3], event, "B", 5.0) == (COUNTED, None)  # decided once, never again


def test_the_six_critical_event_types():
    assert CRITICAL_EVENT_TYPES == ("NODE_FAILURE", "LINK_DOWN", "TOPOLOGY_PARTITION", "GOVERNANCE_PROPOSAL",
                                    "KEY_ROTATION", "SECURITY_INCIDENT")


@given(st.integers(min_value=1, max_value=3000))
def test_quorum_arithmetic_gives_safety_and_liveness_up_to_the_bound(n):
    q, f = quorum_threshold(n), tolerated_faults(n)
    assert q == -(-2 * n // 3)  # ceil(2n/3)
    assert 3 * f < n <= 3 * (f + 1)  # f is the largest count below n/3
    assert 2 * q - n >= f + 1  # two quorums always share an honest member
    assert n - f >= q  # the honest members alone reach the quorum
    if n >= 4:  # one more Byzantine node and two quorums can overlap in Byzantine nodes only
        assert 2 * q - n <= f + 2


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=25), st.data())
def test_no_two_values_validate_while_f_is_within_the_bound(n, data):
    """Honest members vote once; Byzantine members vote for everything, in any order."""
    f = data.draw(st.integers(min_value=0, max_value=tolerated_faults(n)))
    tracker, members = _tracker(n)
    byzantine, honest = members[:f], members[f:]
    event = ("GOVERNANCE_PROPOSAL", "governance", 7)
    ballots = [(member, data.draw(st.sampled_from(["A", "B"]))) for member in honest]
    ballots += [(member, value) for member in byzantine for value in ("A", "B")]
    order = data.draw(st.permutations(ballots))
    validated = set()
    for time, (member, value) in enumerate(order):
        _, decision = tracker.add(member, event, value, float(time))
        if decision is not None:
            validated.add(decision.value)
    # Byzantine members can show each observer only the votes for one value (so nobody sees them
    # equivocate): one fresh observer per value, and still at most one value may validate overall.
    for value in ("A", "B"):
        observer, _ = _tracker(n)
        for time, (member, vote) in enumerate(order):
            if vote == value:
                _, decision = observer.add(member, event, vote, float(time))
                if decision is not None:
                    validated.add(decision.value)
    assert len(validated) <= 1


def test_a_rotated_identity_signs_the_canonical_body_with_its_announcement(scheme, keys):
    signer = Identity(scheme, keys[0])
    rotation = signer.rotate(keys[1])
    announcement = {"pk": rotation.public_key.hex(), "epoch": rotation.epoch, "sig": rotation.signature.hex()}
    for payload in ({}, {"flood": True}, {"value": "\x00rotation\x00"}, {"\x00rotation\x00": 1}):
        message = signer.sign("beacon", "n-1", 1_000, payload)
        assert message.body == encode_body(kind="beacon", sender=signer.node_id, key_id=signer.key_id, epoch=1,
                                           nonce="n-1", timestamp_ms=1_000, payload={**payload, "rotate": announcement})
        assert decode_body(message.body).rotation == rotation
    signer.rotate(keys[2])  # a new rotation is announced, not the cached previous one
    assert decode_body(signer.sign("beacon", "n-2", 2_000, {}).body).rotation.epoch == 2


def test_screen_decides_exactly_like_check(scheme, keys):
    alice, bob, mallory = (Identity(scheme, key) for key in keys)
    members = {node.node_id: node.public_key for node in (alice, bob, mallory)}
    by_check, by_screen = (Verifier(bob.node_id, members, MessageCache(scheme)) for _ in range(2))
    good = alice.sign("beacon", "n1", 1_000, {})
    traffic = [(good, alice.node_id, 1_000), (good, alice.node_id, 1_100), (good, mallory.node_id, 1_200),
               (SignedMessage(good.body, mallory.sign("beacon", "x", 1_000, {}).signature), mallory.node_id, 1_300),
               (SignedMessage(b"{", b""), mallory.node_id, 1_400)]
    traffic += [(alice.sign("beacon", f"f{i}", 2_000, {}), alice.node_id, 2_000) for i in range(12)]
    for message, via, now_ms in traffic:
        verdict = by_check.check(message, via, now_ms)
        rejected = by_screen.screen(message, by_screen.cache.decode(message.body), via, now_ms)
        assert (rejected is None) == verdict.accepted
        if rejected is not None:
            assert (rejected.reason, rejected.blamed) == (verdict.reason, verdict.blamed)
    assert by_check.rejections == by_screen.rejections and by_check.rejections["rate_limited"] == 2
    assert by_check.reputation.scores == by_screen.reputation.scores


def test_nonce_memory_is_pruned_after_the_window_and_old_replays_still_refused(mesh):
    alice, _, _, inbox, _ = mesh
    first = alice.sign("beacon", "n1", 1_000, {})
    assert inbox.check(first, alice.node_id, 1_000).accepted
    later = 1_000 + 30_000 + 2_000 + 1_500  # past freshness + clock skew, and a pruning round later
    assert inbox.check(alice.sign("beacon", "n2", later, {}), alice.node_id, later).accepted
    second = decode_body(alice.sign("beacon", "n2", later, {}).body)
    assert list(inbox._seen) == [second.replay_key]
    assert inbox.check(first, alice.node_id, later).reason == "replay"  # refused by its age instead
