"""The PQC backend layer: real ML-KEM / ML-DSA on each backend, interop, X-Wing, the guard."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from x0ctl.errors import EnvironmentProblem, UsageError
from x0ctl.pqc import KEM_ALGORITHMS, SIG_ALGORITHMS, PQCError, UnsupportedAlgorithm, XWing, get_backend

from .conftest import REPO, liboqs_found_with


def _offered(backend, names, kind):
    offered = backend.kem_algorithms() if kind == "kem" else backend.sig_algorithms()
    return [n for n in names if n in offered]


def test_kem_round_trip_and_seed_determinism(backend):
    for name in _offered(backend, KEM_ALGORITHMS, "kem"):
        kem = backend.kem(name)
        key = kem.generate()
        assert len(key.public_key()) == kem.sizes.public_key
        assert len(key.seed()) == 64
        ciphertext, secret = kem.encapsulate(key.public_key())
        assert len(ciphertext) == kem.sizes.ciphertext and len(secret) == 32
        assert key.decapsulate(ciphertext) == secret
        again = kem.from_seed(key.seed())
        assert again.public_key() == key.public_key()
        assert again.decapsulate(ciphertext) == secret
        # Implicit rejection: a modified ciphertext gives a different (pseudo-random) secret, no error.
        tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        assert key.decapsulate(tampered) != secret


def test_signatures_with_context(backend):
    for name in _offered(backend, SIG_ALGORITHMS, "sig"):
        sig = backend.sig(name)
        key = sig.generate()
        message = b"gossip: NODE_FAILURE node-7 epoch 3"
        signature = key.sign(message, b"x0tta6bl4/control")
        assert len(signature) == sig.sizes.signature
        assert sig.verify(key.public_key(), message, signature, b"x0tta6bl4/control")
        assert not sig.verify(key.public_key(), message, signature, b"other-context")
        assert not sig.verify(key.public_key(), message, signature)
        assert not sig.verify(key.public_key(), message + b"!", signature, b"x0tta6bl4/control")
        assert not sig.verify(key.public_key(), message, signature[:-1] + bytes([signature[-1] ^ 1]), b"x0tta6bl4/control")
        assert not sig.verify(key.public_key(), message, signature[:100], b"x0tta6bl4/control")
        assert sig.from_seed(key.seed()).public_key() == key.public_key()
        with pytest.raises(PQCError, match="at most 255"):
            key.sign(message, b"c" * 256)


def test_bad_lengths_are_usage_errors(backend):
    kem, sig = backend.kem("ML-KEM-768"), backend.sig("ML-DSA-65")
    with pytest.raises(PQCError, match="1184 bytes"):
        kem.encapsulate(b"short")
    with pytest.raises(PQCError, match="64 bytes"):
        kem.from_seed(b"\x00" * 32)
    with pytest.raises(PQCError, match="1088 bytes"):
        kem.generate().decapsulate(b"\x00" * 10)
    with pytest.raises(PQCError, match="1952 bytes"):
        sig.public_key(b"\x00" * 12)
    assert issubclass(PQCError, UsageError)


def test_unknown_and_unsupported_algorithms(openssl_backend):
    with pytest.raises(UnsupportedAlgorithm, match="unknown KEM"):
        openssl_backend.kem("Kyber512")
    with pytest.raises(UnsupportedAlgorithm, match="unknown signature"):
        openssl_backend.sig("Dilithium3")
    if "ML-KEM-512" not in openssl_backend.kem_algorithms():
        with pytest.raises(UnsupportedAlgorithm, match="not offered by the openssl backend"):
            openssl_backend.kem("ML-KEM-512")


def test_cross_backend_interop(openssl_backend, liboqs_backend):
    pairs = [(openssl_backend, liboqs_backend), (liboqs_backend, openssl_backend)]
    for owner, peer in pairs:
        for name in set(owner.kem_algorithms()) & set(peer.kem_algorithms()):
            key = owner.kem(name).generate()
            ciphertext, secret = peer.kem(name).encapsulate(key.public_key())
            assert key.decapsulate(ciphertext) == secret
            assert peer.kem(name).from_seed(key.seed()).public_key() == key.public_key()
        for name in set(owner.sig_algorithms()) & set(peer.sig_algorithms()):
            key = owner.sig(name).generate()
            signature = key.sign(b"beacon", b"ctx")
            assert peer.sig(name).verify(key.public_key(), b"beacon", signature, b"ctx")
            assert not peer.sig(name).verify(key.public_key(), b"beacon", signature, b"ctX")
            assert peer.sig(name).from_seed(key.seed()).public_key() == key.public_key()
    for owner, peer in pairs:
        key = XWing(owner).generate()
        ciphertext, secret = XWing(peer).encapsulate(key.public_key())
        assert key.decapsulate(ciphertext) == secret


def test_liboqs_deterministic_signing_is_repeatable(liboqs_backend):
    key = liboqs_backend.sig("ML-DSA-65").generate()
    first = key.sign_deterministic(b"m", b"c")
    assert first == key.sign_deterministic(b"m", b"c")
    assert key.sign(b"m", b"c") != key.sign(b"m", b"c")  # hedged signing stays randomised
    assert liboqs_backend.sig("ML-DSA-65").verify(key.public_key(), b"m", first, b"c")


def test_xwing_draft_vectors(backend, xwing_vectors):
    xwing = XWing(backend)
    for vector in xwing_vectors:
        key = xwing.from_seed(bytes.fromhex(vector["seed"]))
        assert key.public_key().hex() == vector["pk"]
        assert key.decapsulate(bytes.fromhex(vector["ct"])).hex() == vector["ss"]
    key = xwing.generate()
    ciphertext, secret = xwing.encapsulate(key.public_key())
    assert len(ciphertext) == 1120 and len(key.public_key()) == 1216
    assert key.decapsulate(ciphertext) == secret


def test_xwing_deterministic_encapsulation(liboqs_backend, xwing_vectors):
    xwing = XWing(liboqs_backend)
    for vector in xwing_vectors:
        ciphertext, secret = xwing.encapsulate_deterministic(bytes.fromhex(vector["pk"]), bytes.fromhex(vector["eseed"]))
        assert ciphertext.hex() == vector["ct"]
        assert secret.hex() == vector["ss"]


def test_xwing_secret_binds_both_halves(openssl_backend):
    xwing = XWing(openssl_backend)
    key = xwing.generate()
    ciphertext, secret = xwing.encapsulate(key.public_key())
    for position in (0, 1087, 1088, 1119):  # ML-KEM half, then X25519 half
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        assert key.decapsulate(bytes(tampered)) != secret


P25519 = 2**255 - 19
# X25519 u encodings whose output is all-zero for every key: u = 0, 1, p - 1, the two points of
# order 8, and non-canonical encodings of them (u + p, bit 255 set).
LOW_ORDER_U = {
    "zero": bytes(32),
    "one": (1).to_bytes(32, "little"),
    "p-1": (P25519 - 1).to_bytes(32, "little"),
    "order-8": (325606250916557431795983626356110631294008115727848805560023387167927233504).to_bytes(32, "little"),
    "p (zero, non-canonical)": P25519.to_bytes(32, "little"),
    "one with bit 255 set": ((1 << 255) | 1).to_bytes(32, "little"),
}
XWING_LABEL = bytes.fromhex("5c2e2f2f5e5c")


def draft_decapsulate(seed: bytes, ciphertext: bytes, ss_x: bytes) -> bytes:
    """The draft's Decapsulate (section 5.5), computed here from pyca's ML-KEM-768 and X25519."""
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    expanded = hashlib.shake_256(seed).digest(96)
    ss_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).decapsulate(ciphertext[:1088])
    pk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:]).public_key().public_bytes_raw()
    return hashlib.sha3_256(ss_m + ss_x + ciphertext[1088:] + pk_x + XWING_LABEL).digest()


@pytest.mark.parametrize("name", LOW_ORDER_U)
def test_xwing_low_order_ciphertext_gives_the_drafts_secret(backend, name):
    seed = hashlib.sha256(b"x0ctl low-order test").digest()
    xwing = XWing(backend)
    key = xwing.from_seed(seed)
    ciphertext = xwing.encapsulate(key.public_key()).ciphertext[:1088] + LOW_ORDER_U[name]
    # X25519(sk_X, u) is 0^32 for these u; the draft has no check, so the combiner runs on it.
    assert key.decapsulate(ciphertext) == draft_decapsulate(seed, ciphertext, bytes(32))
    with pytest.raises(PQCError, match="X-Wing ciphertext: X25519 part is a low-order point"):
        XWing(backend, reject_low_order=True).from_seed(seed).decapsulate(ciphertext)


@pytest.mark.parametrize("name", ["zero", "one", "order-8"])
def test_xwing_encapsulation_to_a_low_order_x25519_key_gives_the_drafts_secret(backend, name):
    seed = hashlib.sha256(b"x0ctl low-order encapsulation").digest()
    xwing = XWing(backend)
    public_key = xwing.from_seed(seed).public_key()[:1184] + LOW_ORDER_U[name]
    ciphertext, secret = xwing.encapsulate(public_key)
    from cryptography.hazmat.primitives.asymmetric import mlkem

    ss_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(hashlib.shake_256(seed).digest(96)[:64]).decapsulate(ciphertext[:1088])
    expected = hashlib.sha3_256(ss_m + bytes(32) + ciphertext[1088:] + LOW_ORDER_U[name] + XWING_LABEL).digest()
    assert secret == expected
    with pytest.raises(PQCError, match="X-Wing public key: X25519 part is a low-order point"):
        XWing(backend, reject_low_order=True).encapsulate(public_key)


def test_an_ordinary_x25519_point_is_never_taken_for_a_low_order_one(openssl_backend):
    from x0ctl.pqc.xwing import is_low_order

    key = XWing(openssl_backend).generate()
    assert not is_low_order(key.public_key()[1184:])
    assert all(is_low_order(u) for u in LOW_ORDER_U.values())


def test_the_handshake_keeps_refusing_low_order_x25519(openssl_backend):
    from x0ctl.handshake.suites import HybridSuite

    suite = HybridSuite(openssl_backend)
    key = suite.generate_kem_key()
    ciphertext, _ = suite.encapsulate(key.public_key())
    with pytest.raises(PQCError, match="low-order"):
        key.decapsulate(ciphertext[:1088] + bytes(32))
    with pytest.raises(PQCError, match="low-order"):
        suite.encapsulate(key.public_key()[:1184] + bytes(32))


def test_private_key_repr_hides_secrets(backend):
    key = backend.sig("ML-DSA-65").generate()
    assert key.seed().hex() not in repr(key)
    assert repr(key) == f"<{type(key).__name__} ML-DSA-65>"


def test_guard_production_runs_power_on_self_test(monkeypatch):
    from x0ctl.pqc import guard

    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "true")
    monkeypatch.setattr(guard, "_passed", set())
    assert get_backend("openssl").name == "openssl"
    assert "openssl" in guard._passed


def test_guard_refuses_mock_override_in_production(monkeypatch):
    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "true")
    monkeypatch.setenv("X0TTA6BL4_ALLOW_MOCK_PQC", "true")
    with pytest.raises(EnvironmentProblem, match="refusing"):
        get_backend("openssl")


def test_guard_rejects_ambiguous_values(monkeypatch):
    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "ture")
    with pytest.raises(UsageError, match="not a boolean"):
        get_backend("openssl")


def test_guard_refuses_an_unvetted_backend(monkeypatch, openssl_backend):
    from x0ctl.pqc import guard
    from x0ctl.pqc.openssl import OpenSSLBackend

    class UnvettedBackend(OpenSSLBackend):  # same primitives, but not a class x0ctl vouches for
        name = "unvetted"

    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "true")
    with pytest.raises(EnvironmentProblem, match="not a known real PQC implementation"):
        guard.enforce(UnvettedBackend())
    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "false")
    guard.enforce(UnvettedBackend())  # outside production the guard stands aside


def test_power_on_self_test_detects_a_wrong_implementation(openssl_backend):
    """A backend whose ML-KEM key generation is not FIPS 203 must fail the known-answer POST."""
    from x0ctl.kat import power_on_self_test
    from x0ctl.pqc.openssl import OpenSSLBackend

    class SeedIgnoringBackend(OpenSSLBackend):
        def _make_kem(self, name):
            real = super()._make_kem(name)
            real.from_seed = lambda seed: real.generate()  # ignores the seed: not the standard's keygen
            return real

    power_on_self_test(openssl_backend)
    with pytest.raises(EnvironmentProblem):
        power_on_self_test(SeedIgnoringBackend())




def test_missing_liboqs_is_reported_and_oqs_never_imported(tmp_path):
    if liboqs_found_with({"OQS_INSTALL_PATH": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}):
        pytest.skip("a system-wide liboqs is installed; the absent case cannot be shown here")
    code = textwrap.dedent(
        """
        import sys, json
        from x0ctl.pqc import backend_status
        status = backend_status("liboqs")
        print(json.dumps({"available": status.available, "reason": status.reason, "hint": status.hint,
                          "oqs_imported": "oqs" in sys.modules}))
        """
    )
    env = {**os.environ, "OQS_INSTALL_PATH": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout)
    assert result == {**result, "available": False, "oqs_imported": False}
    assert "not found" in result["reason"]
    assert "OQS_INSTALL_PATH" in result["hint"]
    assert "Installing in" not in done.stdout + done.stderr


def test_auto_picks_the_faster_backend(liboqs_backend):
    from x0ctl.pqc import auto_choice

    choice = auto_choice()
    assert set(choice["measured"]) == {"openssl", "liboqs"}
    assert choice["chosen"] == min(choice["measured"], key=choice["measured"].get)


def test_public_key_fingerprints_match_across_backends(openssl_backend, liboqs_backend):
    seed = hashlib.sha256(b"x0tta6bl4 node-1").digest()
    assert XWing(openssl_backend).from_seed(seed).public_key() == XWing(liboqs_backend).from_seed(seed).public_key()


def test_liboqs_randomness_survives_an_interrupt_in_the_hook(liboqs_backend, monkeypatch):
    """A Ctrl-C landing inside the randombytes callback must not leave liboqs with stale coins."""
    import x0ctl.pqc.liboqs as liboqs_module

    sig = liboqs_backend.sig("ML-DSA-65")
    key = sig.from_seed(bytes(range(32)))  # installs the hook
    real_urandom = os.urandom
    interrupts = {"left": 0}

    def interrupted_once(length):
        if interrupts["left"]:
            interrupts["left"] -= 1
            raise KeyboardInterrupt
        return real_urandom(length)

    monkeypatch.setattr(liboqs_module, "os", type("os", (), {"urandom": staticmethod(interrupted_once),
                                                            "abort": staticmethod(os.abort)}))
    signatures = []
    for _ in range(2):
        interrupts["left"] = 1
        signatures.append(key.sign(b"m"))
    assert signatures[0] != signatures[1]  # hedged: each signing still drew fresh randomness
    assert all(sig.verify(key.public_key(), b"m", s) for s in signatures)
    assert sig.from_seed(bytes(range(32))).public_key() == key.public_key()  # seeded path untouched
