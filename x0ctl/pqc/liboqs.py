"""Backend `liboqs`: ML-KEM and ML-DSA from liboqs, through liboqs-python.

`import oqs` is dangerous: when it cannot load the liboqs shared library it counts down five
seconds, runs `git clone` of liboqs from the internet, builds it, and on failure exits the
process. So this module never imports `oqs` until `locate_liboqs()` has found a loadable library
and has arranged that oqs's own search (OQS_INSTALL_PATH/lib) finds that very file.

Keys are held in liboqs' expanded form; seeds (the portable form) are expanded with
OQS_KEM_keypair_derand for ML-KEM and, for ML-DSA (whose seeded key generation liboqs does not
export), by feeding the 32-byte seed to the keypair call through liboqs' own randomness hook
(OQS_randombytes_custom_algorithm) — the mechanism liboqs' KAT tests use. The hook dispatches per
thread: only the thread that asked for a seeded operation sees its seed; every other call draws
from os.urandom, the same getrandom() source liboqs' "system" RNG uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.pqc.base import (
    KEM_ALGORITHMS,
    KEM_SIZES,
    SIG_ALGORITHMS,
    SIG_SIZES,
    Backend,
    BackendUnavailable,
    Encapsulation,
    KemPrivateKey,
    KemScheme,
    PQCError,
    SigPrivateKey,
    SigPublicKey,
    SigScheme,
    UnsupportedOperation,
    check_context,
    check_length,
)

INSTALL_HINT = (
    "install liboqs >= 0.14 as a shared library (build with cmake -DBUILD_SHARED_LIBS=ON, "
    "then `cmake --install`), and set OQS_INSTALL_PATH to its prefix if it is not in a standard "
    "library path; see README.md, 'Installing liboqs'"
)

_STANDARD_PREFIXES = ("/usr/local", "/usr", "/opt/liboqs", str(Path.home() / "_oqs"))
_LIB_DIRS = ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu")  # under each standard prefix
_LIB_NAMES = ("liboqs.so", "liboqs.dylib")


@dataclass
class LiboqsLocation:
    found: bool
    path: str | None = None
    version: str | None = None
    reason: str | None = None
    searched: list[str] = field(default_factory=list)


_location: LiboqsLocation | None = None
_location_lock = threading.Lock()


def _candidate_paths() -> list[Path]:
    candidates: list[Path] = []
    install_path = os.environ.get("OQS_INSTALL_PATH")
    if install_path:
        for sub in ("lib", "lib64"):
            candidates += [Path(install_path) / sub / name for name in _LIB_NAMES]
    found = ctypes.util.find_library("oqs")
    if found:
        candidates.append(Path(found) if os.path.isabs(found) else Path(found))
    for prefix in _STANDARD_PREFIXES:
        for sub in _LIB_DIRS:
            candidates += [Path(prefix) / sub / name for name in _LIB_NAMES]
    return candidates


def _probe(path: Path) -> str | None:
    """Load the library and read its version; None when it is not a usable liboqs."""
    try:
        lib = ctypes.CDLL(str(path))
        lib.OQS_version.restype = ctypes.c_char_p
        return lib.OQS_version().decode()
    except (OSError, AttributeError):
        return None


def locate_liboqs() -> LiboqsLocation:
    """Find a loadable liboqs shared library without importing `oqs`. Cached per process."""
    global _location
    with _location_lock:
        if _location is not None:
            return _location
        searched: list[str] = []
        for candidate in _candidate_paths():
            text = str(candidate)
            if text in searched:
                continue
            searched.append(text)
            # find_library returns a bare soname ("liboqs.so.9") that only the loader resolves.
            if not candidate.is_absolute() or candidate.exists():
                version = _probe(candidate)
                if version is not None:
                    _location = LiboqsLocation(True, text, version, searched=searched)
                    return _location
        _location = LiboqsLocation(
            False,
            reason="liboqs shared library not found (OQS_INSTALL_PATH, ldconfig cache and standard prefixes searched)",
            searched=searched,
        )
        return _location


_oqs_module = None
_oqs_lock = threading.Lock()


@contextlib.contextmanager
def _oqs_search_finds(path: Path):
    """While oqs is imported, make its own search ($OQS_INSTALL_PATH/lib/liboqs.so) find `path`.

    When `path` is not already there, a private prefix holding exactly that file is used and removed
    again right after the import (oqs loads the library once, at import), and OQS_INSTALL_PATH is
    restored: nothing is left in /tmp, and driver commands never inherit a prefix that is gone.
    """
    install_path = os.environ.get("OQS_INSTALL_PATH")
    if not path.is_absolute() or (path.parent.name in ("lib", "lib64") and install_path == str(path.parent.parent)):
        # a bare soname is resolved by the loader, inside oqs the same way; or oqs already looks there
        yield
        return
    prefix = Path(tempfile.mkdtemp(prefix="x0ctl-oqs-"))
    try:
        (prefix / "lib").mkdir()
        (prefix / "lib" / "liboqs.so").symlink_to(path.resolve())
        os.environ["OQS_INSTALL_PATH"] = str(prefix)
        yield
    finally:
        if install_path is None:
            os.environ.pop("OQS_INSTALL_PATH", None)
        else:
            os.environ["OQS_INSTALL_PATH"] = install_path
        shutil.rmtree(prefix, ignore_errors=True)


def _import_oqs(location: LiboqsLocation):
    """Import oqs, pointing its own search at the library we already loaded and checked."""
    global _oqs_module
    with _oqs_lock:
        if _oqs_module is not None:
            return _oqs_module
        captured = io.StringIO()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(captured), \
                _oqs_search_finds(Path(location.path)):
            warnings.simplefilter("always")
            import oqs  # noqa: PLC0415 - deliberately late, see module docstring
        # oqs attaches a stdout log handler at import; stdout belongs to our JSON output.
        import logging

        logger = logging.getLogger("oqs.oqs")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        location.warnings = [str(w.message) for w in caught]  # type: ignore[attr-defined]
        _oqs_module = oqs
        return oqs


_RANDOMBYTES_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)
_seeded = threading.local()
_hook_installed = False
_hook_lock = threading.Lock()


def _randombytes(buffer, length):
    # ctypes swallows an exception escaping a callback and liboqs would go on with whatever the
    # buffer held: a KeyboardInterrupt here would mean unhedged signatures and reused coins.
    # So every path fills the buffer from the kernel, and if even that fails, fail closed.
    try:
        pending = getattr(_seeded, "pending", None)
        if pending is not None:
            chunk, _seeded.pending = pending[:length], pending[length:]
            if len(chunk) != length:
                _seeded.underflow = True
                chunk = chunk + os.urandom(length - len(chunk))
        else:
            chunk = os.urandom(length)
        ctypes.memmove(buffer, chunk, length)
    except BaseException:  # noqa: BLE001 - see above
        if getattr(_seeded, "pending", None) is not None:
            _seeded.underflow = True  # a seeded call must not succeed on substituted bytes
        try:
            ctypes.memmove(buffer, os.urandom(length), length)
        except BaseException:  # noqa: BLE001
            os.abort()


_randombytes_c = _RANDOMBYTES_CB(_randombytes)


@contextlib.contextmanager
def _feed_randomness(native, data: bytes):
    """Make this thread's next liboqs randombytes() calls return exactly `data`."""
    global _hook_installed
    if not _hook_installed:
        with _hook_lock:
            if not _hook_installed:
                native.OQS_randombytes_custom_algorithm(_randombytes_c)
                _hook_installed = True
    _seeded.pending = bytes(data)
    _seeded.underflow = False
    try:
        yield
        if _seeded.underflow or _seeded.pending:
            raise PQCError("liboqs consumed an unexpected amount of randomness for a seeded operation")
    finally:
        _seeded.pending = None


def _check(status: int, what: str) -> None:
    if status != 0:
        raise PQCError(f"liboqs {what} failed")


class _ExpandedKey:
    """A liboqs private key: the portable seed, the public key and liboqs' expanded secret key."""

    def __init__(self, scheme, seed: bytes, public: bytes, secret: bytes) -> None:
        self.algorithm = scheme.name
        self._scheme = scheme
        self._seed = seed
        self._public = public
        self._secret = secret

    def public_key(self) -> bytes:
        return self._public

    def seed(self) -> bytes:
        return self._seed


class _KemPrivateKey(_ExpandedKey, KemPrivateKey):
    def decapsulate(self, ciphertext: bytes) -> bytes:
        scheme = self._scheme
        check_length(f"{self.algorithm} ciphertext", ciphertext, scheme.sizes.ciphertext)
        shared = ctypes.create_string_buffer(scheme.sizes.shared_secret)
        _check(scheme._native.OQS_KEM_decaps(scheme._ptr, shared, bytes(ciphertext), self._secret), "decapsulation")
        return shared.raw


class _KemScheme(KemScheme):
    def __init__(self, oqs, native, name: str) -> None:
        self.name = name
        self.sizes = KEM_SIZES[name]
        self._handle = oqs.KeyEncapsulation(name)  # owns the OQS_KEM struct for the process lifetime
        self._ptr = ctypes.cast(self._handle._kem, ctypes.c_void_p)
        self._native = native

    def generate(self) -> KemPrivateKey:
        return self.from_seed(os.urandom(self.sizes.seed))

    def from_seed(self, seed: bytes) -> KemPrivateKey:
        check_length(f"{self.name} seed", seed, self.sizes.seed)
        public = ctypes.create_string_buffer(self.sizes.public_key)
        secret = ctypes.create_string_buffer(self.sizes.expanded_private_key)
        _check(self._native.OQS_KEM_keypair_derand(self._ptr, public, secret, bytes(seed)), "seeded key generation")
        return _KemPrivateKey(self, bytes(seed), public.raw, secret.raw)

    def encapsulate(self, public_key: bytes) -> Encapsulation:
        check_length(f"{self.name} public key", public_key, self.sizes.public_key)
        ciphertext = ctypes.create_string_buffer(self.sizes.ciphertext)
        shared = ctypes.create_string_buffer(self.sizes.shared_secret)
        status = self._native.OQS_KEM_encaps(self._ptr, ciphertext, shared, bytes(public_key))
        if status != 0:  # liboqs runs the FIPS 203 encapsulation-key check
            raise PQCError(f"invalid {self.name} public key")
        return Encapsulation(ciphertext.raw, shared.raw)

    def encapsulate_deterministic(self, public_key: bytes, message: bytes) -> Encapsulation:
        check_length(f"{self.name} public key", public_key, self.sizes.public_key)
        check_length("encapsulation randomness m", message, 32)
        ciphertext = ctypes.create_string_buffer(self.sizes.ciphertext)
        shared = ctypes.create_string_buffer(self.sizes.shared_secret)
        status = self._native.OQS_KEM_encaps_derand(self._ptr, ciphertext, shared, bytes(public_key), bytes(message))
        if status != 0:
            raise PQCError(f"invalid {self.name} public key")
        return Encapsulation(ciphertext.raw, shared.raw)

    def expanded_private_key(self, private_key: KemPrivateKey) -> bytes:
        return private_key._secret  # type: ignore[attr-defined]

    def decapsulate_expanded(self, expanded_key: bytes, ciphertext: bytes) -> bytes:
        check_length(f"{self.name} expanded dk", expanded_key, self.sizes.expanded_private_key)
        check_length(f"{self.name} ciphertext", ciphertext, self.sizes.ciphertext)
        shared = ctypes.create_string_buffer(self.sizes.shared_secret)
        # liboqs runs the FIPS 203 hash check of dk first and fails on a dk whose H(ek) is wrong.
        _check(self._native.OQS_KEM_decaps(self._ptr, shared, bytes(ciphertext), bytes(expanded_key)), "decapsulation")
        return shared.raw

    def check_decapsulation_key(self, expanded_key: bytes) -> bool:
        if len(expanded_key) != self.sizes.expanded_private_key:
            return False
        # liboqs has no separate entry point for the check; decapsulation performs it before any
        # use of the key, and any ciphertext of the right length passes the ciphertext check.
        try:
            self.decapsulate_expanded(expanded_key, bytes(self.sizes.ciphertext))
        except PQCError:
            return False
        return True


class _SigPrivateKey(_ExpandedKey, SigPrivateKey):
    def sign(self, message: bytes, context: bytes = b"") -> bytes:
        check_context(context)
        return self._scheme._sign(bytes(message), bytes(context), self._secret)

    def sign_deterministic(self, message: bytes, context: bytes = b"") -> bytes:
        # FIPS 204 deterministic variant: rnd = 0^32.
        return self.sign_with_rnd(message, context, bytes(32))

    def sign_with_rnd(self, message: bytes, context: bytes, rnd: bytes) -> bytes:
        return self._scheme.sign_expanded(self._secret, message, context, rnd)


class _SigPublicKey(SigPublicKey):
    __slots__ = ("algorithm", "_scheme", "_public")

    def __init__(self, scheme: _SigScheme, public: bytes) -> None:
        self.algorithm = scheme.name
        self._scheme = scheme
        self._public = public

    def public_bytes(self) -> bytes:
        return self._public

    def verify(self, message: bytes, signature: bytes, context: bytes = b"") -> bool:
        scheme = self._scheme
        if len(signature) != scheme.sizes.signature or len(context) > 255:
            return False
        status = scheme._native.OQS_SIG_verify_with_ctx_str(
            scheme._ptr, bytes(message), len(message), bytes(signature), len(signature),
            bytes(context), len(context), self._public,
        )
        return status == 0

    def verify_mu(self, mu: bytes, signature: bytes) -> bool:
        raise UnsupportedOperation(f"liboqs' API verifies {self.algorithm} only over a message and context "
                                   "(no external mu, internal interface or HashML-DSA)")


class _SigScheme(SigScheme):
    def __init__(self, oqs, native, name: str) -> None:
        self.name = name
        self.sizes = SIG_SIZES[name]
        self._handle = oqs.Signature(name)
        self._ptr = ctypes.cast(self._handle._sig, ctypes.c_void_p)
        self._native = native

    def generate(self) -> SigPrivateKey:
        return self.from_seed(os.urandom(self.sizes.seed))

    def from_seed(self, seed: bytes) -> SigPrivateKey:
        check_length(f"{self.name} seed", seed, self.sizes.seed)
        public = ctypes.create_string_buffer(self.sizes.public_key)
        secret = ctypes.create_string_buffer(self.sizes.expanded_private_key)
        with _feed_randomness(self._native, bytes(seed)):
            _check(self._native.OQS_SIG_keypair(self._ptr, public, secret), "seeded key generation")
        return _SigPrivateKey(self, bytes(seed), public.raw, secret.raw)

    def public_key(self, public_key: bytes) -> SigPublicKey:
        check_length(f"{self.name} public key", public_key, self.sizes.public_key)
        return _SigPublicKey(self, bytes(public_key))

    def _sign(self, message: bytes, context: bytes, secret: bytes) -> bytes:
        signature = ctypes.create_string_buffer(self.sizes.signature)
        length = ctypes.c_size_t(0)
        _check(
            self._native.OQS_SIG_sign_with_ctx_str(
                self._ptr, signature, ctypes.byref(length), message, len(message), context, len(context), secret
            ),
            "signing",
        )
        return signature.raw[: length.value]

    def expanded_private_key(self, private_key: SigPrivateKey) -> bytes:
        return private_key._secret  # type: ignore[attr-defined]

    def sign_expanded(self, expanded_key: bytes, message: bytes, context: bytes, rnd: bytes) -> bytes:
        check_length(f"{self.name} expanded sk", expanded_key, self.sizes.expanded_private_key)
        check_length("ML-DSA signing randomness rnd", rnd, 32)
        check_context(context)
        # rnd is the only randomness FIPS 204 signing draws: feeding it reproduces a NIST signature.
        with _feed_randomness(self._native, bytes(rnd)):
            return self._sign(bytes(message), bytes(context), bytes(expanded_key))


class LiboqsBackend(Backend):
    name = "liboqs"
    description = "liboqs through liboqs-python"

    def __init__(self) -> None:
        location = locate_liboqs()
        if not location.found:
            raise BackendUnavailable(f"liboqs backend unavailable: {location.reason}", hint=INSTALL_HINT)
        try:
            self._oqs = _import_oqs(location)
        except ImportError as exc:
            raise BackendUnavailable(
                f"liboqs backend unavailable: the liboqs-python package is not installed ({exc.name})",
                hint="pip install liboqs-python",
            ) from None
        self._location = location
        enabled_kem = set(self._oqs.get_enabled_kem_mechanisms())
        enabled_sig = set(self._oqs.get_enabled_sig_mechanisms())
        self._kems = tuple(name for name in KEM_ALGORITHMS if name in enabled_kem)
        self._sigs = tuple(name for name in SIG_ALGORITHMS if name in enabled_sig)
        # A handle of our own on the library oqs loaded, so our argtypes never alter oqs's calls.
        self._native = ctypes.CDLL(self._oqs.native()._name)
        self._declare_native_signatures()

    def _declare_native_signatures(self) -> None:
        native = self._native
        size_t, ptr, buf = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p
        native.OQS_KEM_keypair_derand.argtypes = [ptr, buf, buf, buf]
        native.OQS_KEM_encaps.argtypes = [ptr, buf, buf, buf]
        native.OQS_KEM_encaps_derand.argtypes = [ptr, buf, buf, buf, buf]
        native.OQS_KEM_decaps.argtypes = [ptr, buf, buf, buf]
        native.OQS_SIG_keypair.argtypes = [ptr, buf, buf]
        native.OQS_SIG_sign_with_ctx_str.argtypes = [ptr, buf, ctypes.POINTER(size_t), buf, size_t, buf, size_t, buf]
        native.OQS_SIG_verify_with_ctx_str.argtypes = [ptr, buf, size_t, buf, size_t, buf, size_t, buf]
        native.OQS_randombytes_custom_algorithm.argtypes = [_RANDOMBYTES_CB]
        for fn in (
            native.OQS_KEM_keypair_derand, native.OQS_KEM_encaps, native.OQS_KEM_encaps_derand, native.OQS_KEM_decaps,
            native.OQS_SIG_keypair, native.OQS_SIG_sign_with_ctx_str, native.OQS_SIG_verify_with_ctx_str,
        ):
            fn.restype = ctypes.c_int
        native.OQS_randombytes_custom_algorithm.restype = None

    @property
    def library_path(self) -> str:
        return self._native._name

    def version(self) -> str:
        return f"liboqs {self._oqs.oqs_version()}, liboqs-python {self._oqs.oqs_python_version()}"

    def kem_algorithms(self) -> tuple[str, ...]:
        return self._kems

    def sig_algorithms(self) -> tuple[str, ...]:
        return self._sigs

    def _make_kem(self, name: str) -> KemScheme:
        return _KemScheme(self._oqs, self._native, name)

    def _make_sig(self, name: str) -> SigScheme:
        return _SigScheme(self._oqs, self._native, name)
