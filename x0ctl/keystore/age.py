"""The age v1 file format (C2SP age specification), as x0ctl's backup container.

Implemented here: the binary (unarmored) format, the header MAC, the STREAM payload
(ChaCha20-Poly1305, 64 KiB chunks), the `scrypt` passphrase recipient and the post-quantum
`mlkem768x25519` recipient of age 1.3 (HPKE base mode, KEM MLKEM768-X25519 i.e. X-Wing,
HKDF-SHA256, ChaCha20-Poly1305, info "age-encryption.org/mlkem768x25519"). Recipients are
Bech32 `age1pq1...`, identities `AGE-SECRET-KEY-PQ-1...` (the raw 32-byte X-Wing seed).

Files produced here decrypt with the reference `age` tool (and rage/pyrage), and their files
decrypt here; the test suite checks both directions and the C2SP testkit vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from x0ctl.errors import CheckFailed, UsageError

INTRO = b"age-encryption.org/v1"
MAC_PREFIX = b"---"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
FILE_KEY_SIZE = 16
NONCE_SIZE = 16
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
SCRYPT_SALT_SIZE = 16
PQ_LABEL = b"age-encryption.org/mlkem768x25519"
PQ_STANZA = "mlkem768x25519"
PQ_ENC_SIZE = 1120
PQ_PUBLIC_KEY_SIZE = 1216
PQ_SEED_SIZE = 32
RECIPIENT_HRP = "age1pq"
IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"

DEFAULT_WORK_FACTOR = 18  # what `age -p` uses: about one second on a server core
MIN_WORK_FACTOR = 10  # below this a passphrase falls to a laptop in hours; only tests go this low
MAX_WORK_FACTOR = 22  # the reference implementation's decryption limit (memory: 4 GiB at 22)
_MAX_HEADER = 1 << 20
_ARG_RE = re.compile(rb"^[\x21-\x7e]+$")


class AgeError(CheckFailed):
    """Not an age file, a damaged one, or no identity/passphrase that opens it (exit 1)."""


class AgeHeaderError(AgeError):
    pass


class AgeNoMatch(AgeError):
    pass


class AgePayloadError(AgeError):
    pass


@dataclass
class Stanza:
    type: str
    args: list[str]
    body: bytes

    def encode(self) -> bytes:
        line = b"-> " + " ".join([self.type, *self.args]).encode("ascii") + b"\n"
        encoded = b64encode(self.body)
        lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
        if not lines or len(lines[-1]) == 64:
            lines.append(b"")  # the body ends with a line shorter than 64 columns, possibly empty
        return line + b"".join(chunk + b"\n" for chunk in lines)


@dataclass
class Header:
    stanzas: list[Stanza] = field(default_factory=list)
    mac: bytes = b""
    signed_part: bytes = b""  # everything the MAC covers: intro through "---"


def b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def b64decode(text: bytes | str, what: str) -> bytes:
    """Canonical unpadded standard base64, as the spec requires (no padding, no stray bits)."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if b"=" in raw or b"\r" in raw or b"\n" in raw:
        raise AgeHeaderError(f"age header: {what} is not canonical unpadded base64")
    try:
        decoded = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (ValueError, base64.binascii.Error):
        raise AgeHeaderError(f"age header: {what} is not valid base64") from None
    if b64encode(decoded) != raw:
        raise AgeHeaderError(f"age header: {what} is not canonical base64")
    return decoded


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def _chacha(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    return ChaCha20Poly1305(key)


def header_mac(file_key: bytes, signed_part: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", b"header"), signed_part, hashlib.sha256).digest()


def parse_header(data: bytes) -> tuple[Header, int]:
    """The header and the offset where the payload starts; AgeHeaderError when malformed."""
    if not data.startswith(INTRO + b"\n"):
        if data.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----"):
            raise AgeHeaderError("armored (PEM) age files are not supported; decode with `age -d` first")
        raise AgeHeaderError("not an age file (no age-encryption.org/v1 header)")
    header = Header()
    pos = len(INTRO) + 1
    while True:
        end = data.find(b"\n", pos, pos + _MAX_HEADER)
        if end < 0:
            raise AgeHeaderError("age header is truncated")
        line = data[pos:end]
        if line.startswith(b"-> "):
            parts = line[3:].split(b" ")
            if not parts or any(not _ARG_RE.match(part) for part in parts):
                raise AgeHeaderError("age header: malformed stanza line")
            pos = end + 1
            body_lines = []
            while True:
                body_end = data.find(b"\n", pos)
                if body_end < 0:
                    raise AgeHeaderError("age header is truncated inside a stanza body")
                body_line = data[pos:body_end]
                if len(body_line) > 64:
                    raise AgeHeaderError("age header: stanza body line longer than 64 columns")
                body_lines.append(body_line)
                pos = body_end + 1
                if len(body_line) < 64:
                    break
            body = b64decode(b"".join(body_lines), "stanza body")
            header.stanzas.append(Stanza(parts[0].decode("ascii"), [p.decode("ascii") for p in parts[1:]], body))
            continue
        if line.startswith(MAC_PREFIX + b" "):
            header.signed_part = data[:pos + len(MAC_PREFIX)]
            header.mac = b64decode(line[4:], "header MAC")
            if len(header.mac) != 32:
                raise AgeHeaderError("age header: MAC has the wrong length")
            if not header.stanzas:
                raise AgeHeaderError("age header has no recipient stanzas")
            return header, end + 1
        raise AgeHeaderError("age header: unexpected line")


def _stream_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _seal_payload(file_key: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    aead = _chacha(_hkdf(file_key, nonce, b"payload"))
    chunks = [plaintext[i:i + CHUNK_SIZE] for i in range(0, len(plaintext), CHUNK_SIZE)] or [b""]
    out = [nonce]
    for index, chunk in enumerate(chunks):
        out.append(aead.encrypt(_stream_nonce(index, index == len(chunks) - 1), chunk, None))
    return b"".join(out)


def _open_payload(file_key: bytes, payload: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    if len(payload) < NONCE_SIZE + TAG_SIZE:
        raise AgePayloadError("age payload is truncated")
    aead = _chacha(_hkdf(file_key, payload[:NONCE_SIZE], b"payload"))
    body = payload[NONCE_SIZE:]
    sealed = CHUNK_SIZE + TAG_SIZE
    count = max(1, -(-len(body) // sealed))
    out = []
    for index in range(count):
        chunk = body[index * sealed:(index + 1) * sealed]
        last = index == count - 1
        if len(chunk) < TAG_SIZE or (last and index > 0 and len(chunk) == TAG_SIZE):
            raise AgePayloadError("age payload is truncated or has an empty final chunk")
        try:
            out.append(aead.decrypt(_stream_nonce(index, last), chunk, None))
        except InvalidTag:
            raise AgePayloadError("age payload failed authentication: the file is truncated or tampered with") from None
    return b"".join(out)


def _bech32_polymod(values) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data, from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        raise ValueError("invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 (BIP 173, without the 90-character limit, as age uses it)."""
    hrp = hrp.lower()
    words = _convert_bits(data, 8, 5, True)
    polymod = _bech32_polymod(_hrp_expand(hrp) + words + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[w] for w in words + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp, data); raises ValueError for anything malformed (mixed case, checksum, padding)."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed case")
    lowered = text.lower()
    sep = lowered.rfind("1")
    if sep < 1 or sep + 7 > len(lowered):
        raise ValueError("missing separator or checksum")
    hrp, rest = lowered[:sep], lowered[sep + 1:]
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise ValueError("invalid human-readable part")
    try:
        words = [_BECH32_CHARSET.index(c) for c in rest]
    except ValueError:
        raise ValueError("invalid character") from None
    if _bech32_polymod(_hrp_expand(hrp) + words) != 1:
        raise ValueError("invalid checksum")
    return text[:sep], bytes(_convert_bits(words[:-6], 5, 8, False))


def _xwing_private(seed: bytes):
    """pyca's HPKE MLKEM768-X25519 key from the 32-byte X-Wing seed (draft expansion)."""
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    expanded = hashlib.shake_256(seed).digest(96)
    return hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


def _hpke_suite():
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def xwing_public_key(seed: bytes) -> bytes:
    expanded = hashlib.shake_256(seed).digest(96)
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    pk_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]).public_key().public_bytes_raw()
    pk_x = x25519.X25519PrivateKey.from_private_bytes(expanded[64:]).public_key().public_bytes_raw()
    return pk_m + pk_x


class HybridRecipient:
    """An `age1pq1...` recipient (mlkem768x25519)."""

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != PQ_PUBLIC_KEY_SIZE:
            raise UsageError("age1pq recipient: wrong public key length")
        from cryptography.hazmat.primitives import hpke
        from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

        try:
            self._key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(public_key[:1184]),
                x25519.X25519PublicKey.from_public_bytes(public_key[1184:]),
            )
        except ValueError:
            raise UsageError("age1pq recipient: not a valid ML-KEM-768 + X25519 public key") from None
        self.public_key = bytes(public_key)

    @classmethod
    def parse(cls, text: str) -> HybridRecipient:
        try:
            hrp, data = bech32_decode(text.strip())
        except ValueError as exc:
            raise UsageError(f"malformed age recipient ({exc}); expected age1pq1...") from None
        if hrp.lower() != RECIPIENT_HRP:
            raise UsageError(f"unsupported age recipient type {hrp!r}; x0ctl backups use post-quantum age1pq1... recipients")
        return cls(data)

    def __str__(self) -> str:
        return bech32_encode(RECIPIENT_HRP, self.public_key)

    def wrap(self, file_key: bytes) -> Stanza:
        sealed = _hpke_suite().encrypt(file_key, self._key, PQ_LABEL)
        enc, body = sealed[:PQ_ENC_SIZE], sealed[PQ_ENC_SIZE:]
        return Stanza(PQ_STANZA, [b64encode(enc).decode("ascii")], body)


class HybridIdentity:
    """An `AGE-SECRET-KEY-PQ-1...` identity: the 32-byte X-Wing seed. `repr` shows no secret."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != PQ_SEED_SIZE:
            raise UsageError("age PQ identity: wrong seed length")
        self._seed = bytes(seed)
        self._private = _xwing_private(self._seed)

    @classmethod
    def generate(cls) -> HybridIdentity:
        return cls(os.urandom(PQ_SEED_SIZE))

    @classmethod
    def parse(cls, text: str) -> HybridIdentity:
        try:
            hrp, data = bech32_decode(text.strip())
        except ValueError as exc:
            raise UsageError(f"malformed age identity ({exc})") from None
        if hrp.upper() != IDENTITY_HRP:
            raise UsageError("unsupported age identity type; expected AGE-SECRET-KEY-PQ-1...")
        return cls(data)

    def encode(self) -> str:
        return bech32_encode(IDENTITY_HRP, self._seed).upper()

    def recipient(self) -> HybridRecipient:
        return HybridRecipient(xwing_public_key(self._seed))

    def __repr__(self) -> str:
        return "<HybridIdentity>"

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != PQ_STANZA:
            return None
        if len(stanza.args) != 1:
            raise AgeHeaderError("age header: invalid mlkem768x25519 stanza")
        enc = b64decode(stanza.args[0], "mlkem768x25519 share")
        if len(enc) != PQ_ENC_SIZE or len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
            raise AgeHeaderError("age header: mlkem768x25519 stanza has the wrong size")
        from cryptography.exceptions import InvalidTag

        try:
            return _hpke_suite().decrypt(enc + stanza.body, self._private, PQ_LABEL)
        except (InvalidTag, ValueError):  # implicit rejection: a foreign key only shows up as a failed tag
            return None


def scrypt_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    """The age scrypt wrapping key (N = 2^work_factor, r = 8, p = 1).

    cryptography's Scrypt, not hashlib's: hashlib refuses maxmem >= 2 GiB, which made work
    factors 21 and 22 (valid in age, up to 4 GiB) fail; the work factor is bounded by the callers.
    """
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    try:
        return Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1).derive(passphrase)
    except MemoryError:
        raise AgeError(f"not enough memory for scrypt work factor {work_factor}") from None


class ScryptRecipient:
    def __init__(self, passphrase: bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        if not MIN_WORK_FACTOR <= work_factor <= MAX_WORK_FACTOR:
            raise UsageError(f"scrypt work factor must be between {MIN_WORK_FACTOR} and {MAX_WORK_FACTOR}")
        if not passphrase:
            raise UsageError("the passphrase is empty")
        self._passphrase = passphrase
        self.work_factor = work_factor

    def __repr__(self) -> str:
        return f"<ScryptRecipient work_factor={self.work_factor}>"

    def wrap(self, file_key: bytes) -> Stanza:
        salt = os.urandom(SCRYPT_SALT_SIZE)
        key = scrypt_key(self._passphrase, salt, self.work_factor)
        body = _chacha(key).encrypt(b"\x00" * 12, file_key, None)
        return Stanza("scrypt", [b64encode(salt).decode("ascii"), str(self.work_factor)], body)


class ScryptIdentity:
    def __init__(self, passphrase: bytes, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = passphrase
        self.max_work_factor = max_work_factor

    def __repr__(self) -> str:
        return "<ScryptIdentity>"

    def unwrap(self, stanza: Stanza) -> bytes | None:
        from cryptography.exceptions import InvalidTag

        if stanza.type != "scrypt":
            return None
        if len(stanza.args) != 2:
            raise AgeHeaderError("age header: invalid scrypt stanza")
        salt = b64decode(stanza.args[0], "scrypt salt")
        if len(salt) != SCRYPT_SALT_SIZE:
            raise AgeHeaderError("age header: scrypt salt has the wrong length")
        if not re.fullmatch(r"[1-9][0-9]{0,2}", stanza.args[1]):
            raise AgeHeaderError("age header: invalid scrypt work factor")
        work_factor = int(stanza.args[1])
        if work_factor > self.max_work_factor:
            raise AgeHeaderError(f"age header: scrypt work factor {work_factor} exceeds the limit {self.max_work_factor}")
        if len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
            raise AgeHeaderError("age header: scrypt stanza has the wrong size")
        key = scrypt_key(self._passphrase, salt, work_factor)
        try:
            return _chacha(key).decrypt(b"\x00" * 12, stanza.body, None)
        except InvalidTag:
            return None


def encrypt(plaintext: bytes, recipients: list) -> bytes:
    """An age v1 file of `plaintext` for the recipients (scrypt must be alone, per the spec)."""
    if not recipients:
        raise UsageError("no recipients: give --recipient age1pq1... or a passphrase")
    if any(isinstance(r, ScryptRecipient) for r in recipients) and len(recipients) > 1:
        raise UsageError("an age passphrase (scrypt) recipient must be the only recipient of a file")
    file_key = os.urandom(FILE_KEY_SIZE)
    signed = INTRO + b"\n" + b"".join(r.wrap(file_key).encode() for r in recipients) + MAC_PREFIX
    mac = header_mac(file_key, signed)
    return signed + b" " + b64encode(mac) + b"\n" + _seal_payload(file_key, plaintext)


def decrypt_file_key(header: Header, identities: list) -> bytes:
    scrypt_stanzas = [s for s in header.stanzas if s.type == "scrypt"]
    if scrypt_stanzas and len(header.stanzas) != 1:
        raise AgeHeaderError("age header: a scrypt stanza must be the only stanza")
    for stanza in header.stanzas:
        for identity in identities:
            file_key = identity.unwrap(stanza)
            if file_key is None:
                continue
            if len(file_key) != FILE_KEY_SIZE:
                raise AgeHeaderError("age header: unwrapped file key has the wrong length")
            return file_key
    if scrypt_stanzas:
        raise AgeNoMatch("wrong passphrase (the age scrypt stanza did not open)")
    raise AgeNoMatch("no identity matched any of the file's recipients (wrong identity or passphrase)")


def decrypt(data: bytes, identities: list) -> bytes:
    """The plaintext; AgeError subclasses say whether the header, the key or the payload failed."""
    header, payload_start = parse_header(data)
    file_key = decrypt_file_key(header, identities)
    if not hmac.compare_digest(header_mac(file_key, header.signed_part), header.mac):
        raise AgeHeaderError("age header MAC does not match: the header was tampered with")
    return _open_payload(file_key, data[payload_start:])


def read_identity_file(text: str) -> list[HybridIdentity]:
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        identities.append(HybridIdentity.parse(line))
    if not identities:
        raise UsageError("the identity file holds no AGE-SECRET-KEY-PQ-1... line")
    return identities
