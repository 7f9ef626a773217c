"""Identity and peer-key files for serve/probe: ML-DSA-65 keys as pyca/cryptography writes them.

- `--identity FILE`: a PKCS#8 PEM private key in seed form; the 32-byte seed is loaded into the
  selected backend, so the same file works with openssl and liboqs. Refused (exit 2) when group or
  others can access it, as ssh refuses such a key.
- `--keystore DIR`: the keystore's active ML-DSA-65 signing key (`x0ctl keys`), read under its
  shared lock, loaded into the suite's backend.
- `--peer-key FILE`: the peer's SubjectPublicKeyInfo PEM, or its raw 1952-byte public key.
"""

from __future__ import annotations

from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.handshake.protocol import Identity
from x0ctl.handshake.suites import HybridSuite
from x0ctl.textfile import read_bytes, read_private_bytes

ALGORITHM = "ML-DSA-65"


def load_identity(path: Path, suite: HybridSuite) -> Identity:
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = read_private_bytes(path, "identity file")
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"identity {path} is encrypted; give an unencrypted PKCS#8 ML-DSA-65 key") from None
    except (ValueError, Exception):  # noqa: BLE001 - cryptography raises several types for bad PEM
        raise UsageError(f"identity {path} is not a PEM private key") from None
    if not isinstance(key, mldsa.MLDSA65PrivateKey):
        raise UsageError(f"identity {path} is a {type(key).__name__.removesuffix('PrivateKey')} key, not {ALGORITHM}")
    try:
        seed = key.private_bytes_raw()
    except Exception:  # noqa: BLE001
        raise UsageError(f"identity {path} has no seed (expanded-only keys are not supported)") from None
    return Identity.from_key(ALGORITHM, suite.identity_from_seed(seed))


def load_peer_key(path: Path, size: int = 1952) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = read_bytes(path, "peer key file")
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = load_pem_public_key(data)
        except Exception:  # noqa: BLE001
            raise UsageError(f"peer key {path} is not a PEM public key") from None
        if not isinstance(key, mldsa.MLDSA65PublicKey):
            raise UsageError(f"peer key {path} is not an {ALGORITHM} public key")
        return key.public_bytes_raw()
    if len(data) != size:
        raise UsageError(f"peer key {path} is neither PEM nor a raw {size}-byte {ALGORITHM} public key "
                         f"({len(data)} bytes)")
    return data


def keystore_identity(path: Path, suite: HybridSuite) -> Identity:
    """The active signing (ML-DSA-65) key of the keystore at `path`, as this node's handshake identity."""
    from x0ctl.keystore import Keystore
    from x0ctl.pqc import get_backend

    store = Keystore(path, backend=get_backend(suite.backend_name))
    store.require_verified()  # a tampered keystore must not lend its key to a handshake
    with store.reading() as (state, _):
        active = [record for record in store.records(state) if record.purpose == "sig" and record.state == "active"]
        if not active:
            raise UsageError(f"keystore {path} has no active signing key", hint="create one with `x0ctl keys generate`")
        key = store.load_private(active[0])
    return Identity.from_key(ALGORITHM, key)


def node_identity(suite: HybridSuite, identity_file: Path | None = None, keystore: Path | None = None) -> Identity:
    """This node's identity for serve/probe: from --identity, from --keystore, or a fresh ephemeral one."""
    if identity_file is not None and keystore is not None:
        raise UsageError("--identity and --keystore both name this node's identity: give one")
    if identity_file is not None:
        return load_identity(identity_file, suite)
    if keystore is not None:
        return keystore_identity(keystore, suite)
    return Identity.generate(suite)
