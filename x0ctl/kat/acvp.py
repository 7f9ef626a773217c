"""NIST ACVP JSON (usnistgov/ACVP-Server gen-val/json-files) for ML-KEM and ML-DSA.

Accepted: `internalProjection.json` (inputs and answers in one file), or `prompt.json` with its
`expectedResults.json` (paired by file name - "prompt" -> "expectedResults" in the same folder -
or by algorithm/mode/revision/vsId among the files given), or an ACVP-Server folder holding them.
The `[{"acvVersion": ...}, {...}]` wrapping of ACVTS downloads is accepted too.

Every field of every test case is decoded and length-checked, whether or not a check uses it.
What runs on which backend is the table in docs/kat.md; in short:

- ML-KEM keyGen: d, z -> ek (and dk where the backend exports it).
- ML-KEM encapDecap: encapsulation (ek, m -> c, k; and c -> k with the test's dk), decapsulation
  with a seed or an expanded dk, encapsulationKeyCheck and decapsulationKeyCheck (testPassed).
- ML-DSA keyGen: seed -> pk (and sk where exported).
- ML-DSA sigVer and sigGen: every signatureInterface / preHash / externalMu form is verified
  (pure through the backend's verify, the others through mu where the backend verifies over mu);
  sigGen signatures are reproduced with the expanded sk and rnd (0 for deterministic groups)
  where the backend signs with an expanded sk (pure form only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.kat.formats import load_json, read_vector_file
from x0ctl.kat.mldsa import PRE_HASH_FUNCTIONS, pure_form
from x0ctl.kat.vectors import (
    DECAPS,
    DK_CHECK,
    EK_CHECK,
    ENCAPS_DET,
    EXTERNAL_MU,
    INTERNAL,
    KEM_ALGORITHMS,
    KEYGEN_PK,
    KEYGEN_SK,
    PRE_HASH,
    PURE,
    SIG_ALGORITHMS,
    SIGN_DET,
    SIGN_HEDGED,
    VERIFY,
    KemVector,
    LoadedSource,
    SigVector,
    VectorDataError,
    decode_hex,
)
from x0ctl.pqc.base import KEM_SIZES, SIG_SIZES

NO_PK_REASON = "this sigGen file carries no public key (use internalProjection.json)"
SIGN_FORM_REASON = ("reproducing this signature ({form} form) needs signing of M' or mu with a chosen rnd, which "
                    "neither pyca/cryptography nor liboqs' API offers")

_SUPPORTED = {("ML-KEM", "keyGen"), ("ML-KEM", "encapDecap"), ("ML-DSA", "keyGen"), ("ML-DSA", "sigGen"),
              ("ML-DSA", "sigVer")}
# A test that carries one of these holds answers: the file is an internalProjection, not a prompt.
_ANSWER_FIELDS = {"keyGen": ("ek", "pk"), "encapDecap": ("k", "testPassed"), "sigGen": ("signature",),
                  "sigVer": ("testPassed",)}


def acvp_payload(doc) -> dict | None:
    """The vector-set object of an ACVP document (unwrapping ACVTS' [{acvVersion}, {...}])."""
    if isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], dict) and "acvVersion" in doc[0]:
        doc = doc[1]
    if isinstance(doc, dict) and isinstance(doc.get("testGroups"), list) and ("algorithm" in doc or "vsId" in doc):
        return doc
    return None


@dataclass
class AcvpDocument:
    path: Path
    payload: dict
    role: str  # "internalProjection", "prompt" or "expectedResults"

    @classmethod
    def from_json(cls, path: Path, doc) -> AcvpDocument:
        payload = acvp_payload(doc)
        if payload is None:
            raise UsageError(f"{path}: not an ACVP vector set")
        return cls(path, payload, _role(payload))

    @property
    def key(self) -> tuple:
        p = self.payload
        return (p.get("algorithm"), p.get("mode"), p.get("revision"), p.get("vsId"))


def _role(payload: dict) -> str:
    groups = [group for group in payload["testGroups"] if isinstance(group, dict)]
    if groups and not any("parameterSet" in group for group in groups):
        return "expectedResults"
    answers = _ANSWER_FIELDS.get(payload.get("mode"), ())
    for group in groups:
        for test in group.get("tests", ()):
            if isinstance(test, dict) and any(name in test for name in answers):
                return "internalProjection"
    return "prompt"


def read_directory(path: Path) -> list[AcvpDocument]:
    """An ACVP-Server folder: its internalProjection.json, else prompt.json + expectedResults.json."""
    for names in (("internalProjection.json",), ("prompt.json", "expectedResults.json")):
        if all((path / name).is_file() for name in names):
            return [_read(path / name) for name in names]
    raise IOFailure(f"{path} is a directory without ACVP files (internalProjection.json, or prompt.json with "
                     "expectedResults.json); pass vector files instead")


def _read(path: Path) -> AcvpDocument:
    doc = load_json(read_vector_file(path), str(path))
    if acvp_payload(doc) is None:
        raise UsageError(f"{path}: not an ACVP vector set")
    return AcvpDocument.from_json(path, doc)


def _sibling(path: Path, old: str, new: str) -> Path | None:
    if old not in path.name:
        return None
    return path.with_name(path.name.replace(old, new))


def load_documents(documents: list[AcvpDocument], wanted: frozenset[str]) -> list[LoadedSource]:
    """Pair prompts with expected results, then turn every vector set into batches."""
    prompts = [doc for doc in documents if doc.role == "prompt"]
    expected = [doc for doc in documents if doc.role == "expectedResults"]
    used: set[int] = set()
    ready: list[tuple[AcvpDocument, AcvpDocument | None]] = [(doc, None) for doc in documents
                                                              if doc.role == "internalProjection"]
    for prompt in prompts:
        partner = _find_partner(prompt, expected, used)
        if partner is None:
            sibling = _sibling(prompt.path, "prompt", "expectedResults")
            if sibling is None or not sibling.is_file():
                raise UsageError(f"{prompt.path} is an ACVP prompt without answers: pass its expectedResults.json "
                                 "as well (or internalProjection.json instead)")
            partner = _read(sibling)
        ready.append((prompt, partner))
    for answers in expected:
        if id(answers) in used:
            continue
        sibling = _sibling(answers.path, "expectedResults", "prompt")
        if sibling is None or not sibling.is_file():
            raise UsageError(f"{answers.path} holds only ACVP expected results: pass its prompt.json as well "
                             "(or internalProjection.json instead)")
        ready.append((_read(sibling), answers))
    return [_convert(prompt, answers, wanted) for prompt, answers in ready]


def _find_partner(prompt: AcvpDocument, expected: list[AcvpDocument], used: set[int]) -> AcvpDocument | None:
    sibling = _sibling(prompt.path, "prompt", "expectedResults")
    for candidate in expected:
        if id(candidate) not in used and sibling is not None and candidate.path.resolve() == sibling.resolve():
            used.add(id(candidate))
            return candidate
    same_set = [c for c in expected if id(c) not in used and c.key == prompt.key]
    if len(same_set) == 1:
        used.add(id(same_set[0]))
        return same_set[0]
    if len(same_set) > 1:
        raise UsageError(f"{prompt.path}: several expectedResults files match vector set {prompt.key}; keep each "
                         "prompt next to its expectedResults with matching names")
    return None


def _merge(prompt: AcvpDocument, answers: AcvpDocument) -> list[dict]:
    """The prompt's groups with the expected results folded into each group and test."""
    expected_groups = {group.get("tgId"): group for group in answers.payload["testGroups"] if isinstance(group, dict)}
    merged = []
    for group in prompt.payload["testGroups"]:
        answer_group = expected_groups.get(group.get("tgId"))
        if answer_group is None:
            raise VectorDataError(f"{answers.path}: no expected results for tgId {group.get('tgId')} of {prompt.path}")
        answer_tests = {test.get("tcId"): test for test in answer_group.get("tests", ())}
        tests = []
        for test in group.get("tests", ()):
            answer = answer_tests.get(test.get("tcId"))
            if answer is None:
                raise VectorDataError(f"{answers.path}: no expected result for tcId {test.get('tcId')} "
                                      f"(tgId {group.get('tgId')})")
            tests.append({**test, **answer})
        extra = {key: value for key, value in answer_group.items() if key != "tests"}
        merged.append({**group, **extra, "tests": tests})
    return merged


def _convert(prompt: AcvpDocument, answers: AcvpDocument | None, wanted: frozenset[str]) -> LoadedSource:
    payload = prompt.payload
    algorithm, mode = payload.get("algorithm"), payload.get("mode")
    label = str(prompt.path)
    if (algorithm, mode) not in _SUPPORTED:
        raise UsageError(f"{label}: ACVP {algorithm} {mode} is not supported; x0ctl runs ML-KEM keyGen/encapDecap "
                         "and ML-DSA keyGen/sigGen/sigVer")
    meta = {"name": f"file:{label}", "path": label, "format": "acvp",
            "acvp": {"algorithm": algorithm, "mode": mode, "revision": payload.get("revision"),
                     "vsId": payload.get("vsId"),
                     "files": "internalProjection" if answers is None else "prompt+expectedResults"}}
    if answers is not None:
        meta["expected_results"] = str(answers.path)
    source = LoadedSource(f"file:{label}", meta)
    groups = payload["testGroups"] if answers is None else _merge(prompt, answers)
    name = prompt.path.name
    known = KEM_ALGORITHMS if algorithm == "ML-KEM" else SIG_ALGORITHMS
    build = _BUILDERS[(algorithm, mode)]
    for group in groups:
        if not isinstance(group, dict):
            raise VectorDataError(f"{label}: a test group is not an object")
        parameter_set = group.get("parameterSet")
        if parameter_set not in known:
            raise VectorDataError(f"{label}: tgId {group.get('tgId')}: unknown parameterSet {parameter_set!r}")
        vectors = []  # built (so validated) for every parameter set; run only for those wanted
        for test in group.get("tests", ()):
            if not isinstance(test, dict):
                raise VectorDataError(f"{label}: tgId {group.get('tgId')}: a test case is not an object")
            vector_id = f"{name}#tgId={group.get('tgId')}/tcId={test.get('tcId')}"
            vector = build(group, test, parameter_set, vector_id, source)
            if vector is not None:
                vectors.append(vector)
        if parameter_set in wanted:
            source.add(parameter_set, vectors)
    return source


def _value(test: dict, group: dict, key: str):
    """A field from the test case, or from its group (older vector sets keep keys there)."""
    return test.get(key, group.get(key))


def _bytes(test: dict, group: dict, key: str, vector_id: str, size: int | None = None) -> bytes:
    value = _value(test, group, key)
    if not isinstance(value, str):
        raise VectorDataError(f"vector {vector_id}: missing field {key!r}")
    return decode_hex(value, f"vector {vector_id}: field {key!r}", size)


def _optional(test: dict, group: dict, key: str, vector_id: str, size: int | None = None) -> bytes | None:
    return _bytes(test, group, key, vector_id, size) if _value(test, group, key) is not None else None


def _verdict(test: dict, vector_id: str) -> bool:
    value = test.get("testPassed")
    if not isinstance(value, bool):
        raise VectorDataError(f"vector {vector_id}: missing boolean 'testPassed'")
    return value


def _kem_seed(test: dict, group: dict, vector_id: str) -> bytes | None:
    if _value(test, group, "seed") is not None:
        return _bytes(test, group, "seed", vector_id, 64)
    if _value(test, group, "d") is not None or _value(test, group, "z") is not None:
        return _bytes(test, group, "d", vector_id, 32) + _bytes(test, group, "z", vector_id, 32)
    if group.get("keyFormat") == "seed":
        raise VectorDataError(f"vector {vector_id}: keyFormat is seed but the test has no d and z")
    return None


def _kem_keygen(group, test, algorithm, vector_id, source) -> KemVector:
    sizes = KEM_SIZES[algorithm]
    expanded = _optional(test, group, "dk", vector_id, sizes.expanded_private_key)
    return KemVector(vector_id=vector_id, algorithm=algorithm,
                     checks=(KEYGEN_PK, KEYGEN_SK) if expanded is not None else (KEYGEN_PK,),
                     seed=_bytes(test, group, "d", vector_id, 32) + _bytes(test, group, "z", vector_id, 32),
                     public_key=_bytes(test, group, "ek", vector_id, sizes.public_key), expanded_key=expanded)


def _kem_encap_decap(group, test, algorithm, vector_id, source) -> KemVector | None:
    function = group.get("function") or ("encapsulation" if group.get("testType") == "AFT" else "decapsulation")
    sizes = KEM_SIZES[algorithm]
    if function in ("encapsulation", "decapsulation"):
        seed = _kem_seed(test, group, vector_id)
        expanded = _optional(test, group, "dk", vector_id, sizes.expanded_private_key)
        ciphertext = _bytes(test, group, "c", vector_id, sizes.ciphertext)
        secret = _bytes(test, group, "k", vector_id, 32)
        # An encapsulation test also carries the key pair: its c must decapsulate to k as well.
        can_decapsulate = seed is not None or expanded is not None
        if function == "decapsulation" and not can_decapsulate:
            raise VectorDataError(f"vector {vector_id}: a decapsulation test needs dk, or d and z")
        vector = KemVector(vector_id=vector_id, algorithm=algorithm, checks=(), seed=seed, expanded_key=expanded,
                           ciphertext=ciphertext, shared_secret=secret)
        if function == "encapsulation":
            vector.public_key = _bytes(test, group, "ek", vector_id, sizes.public_key)
            vector.encaps_message = _bytes(test, group, "m", vector_id, 32)
            vector.encaps_ciphertext, vector.encaps_secret = ciphertext, secret
            vector.checks = (ENCAPS_DET, DECAPS) if can_decapsulate else (ENCAPS_DET,)
        else:
            vector.checks = (DECAPS,)
        return vector
    if function == "encapsulationKeyCheck":  # invalid keys may have any length: no size here
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(EK_CHECK,),
                         public_key=_bytes(test, group, "ek", vector_id), key_valid=_verdict(test, vector_id))
    if function == "decapsulationKeyCheck":
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(DK_CHECK,),
                         expanded_key=_bytes(test, group, "dk", vector_id), key_valid=_verdict(test, vector_id))
    source.ignore(f"{vector_id}", 1, f"ACVP ML-KEM function {function!r} is unknown to x0ctl")
    return None


def _dsa_keygen(group, test, algorithm, vector_id, source) -> SigVector:
    sizes = SIG_SIZES[algorithm]
    expanded = _optional(test, group, "sk", vector_id, sizes.expanded_private_key)
    return SigVector(vector_id=vector_id, algorithm=algorithm,
                     checks=(KEYGEN_PK, KEYGEN_SK) if expanded is not None else (KEYGEN_PK,),
                     seed=_bytes(test, group, "seed", vector_id, 32),
                     public_key=_bytes(test, group, "pk", vector_id, sizes.public_key), expanded_key=expanded)


def _dsa_message(group: dict, test: dict, vector_id: str) -> dict:
    """The SigVector fields saying what was signed: form, message, context, mu, hash_alg."""
    context = _optional(test, group, "context", vector_id) or b""
    if len(context) > 255:
        raise VectorDataError(f"vector {vector_id}: context is {len(context)} bytes, more than FIPS 204's 255")
    # Vector sets from before the FIPS 204 interfaces have no signatureInterface and sign M' as given.
    interface = group.get("signatureInterface", "internal")
    if interface == "external":
        pre_hash = group.get("preHash", "pure")
        message = _bytes(test, group, "message", vector_id)
        if pre_hash == "pure":
            return {"form": PURE, "message": message, "context": context}
        if pre_hash != "preHash":
            raise VectorDataError(f"vector {vector_id}: unknown preHash {pre_hash!r}")
        hash_alg = _value(test, group, "hashAlg")
        if hash_alg not in PRE_HASH_FUNCTIONS:
            raise VectorDataError(f"vector {vector_id}: unknown hashAlg {hash_alg!r}; known: "
                                  f"{', '.join(PRE_HASH_FUNCTIONS)}")
        return {"form": PRE_HASH, "message": message, "context": context, "hash_alg": hash_alg}
    if interface != "internal":
        raise VectorDataError(f"vector {vector_id}: unknown signatureInterface {interface!r}")
    if group.get("externalMu") or _value(test, group, "mu") is not None:
        return {"form": EXTERNAL_MU, "mu": _bytes(test, group, "mu", vector_id, 64)}
    internal = _bytes(test, group, "message", vector_id)
    pure = pure_form(internal)
    if pure is not None:  # M' = 0x00 || len(ctx) || ctx || M: pure ML-DSA over (M, ctx)
        return {"form": PURE, "message": pure[0], "context": pure[1]}
    return {"form": INTERNAL, "message": internal}


def _dsa_sigver(group, test, algorithm, vector_id, source) -> SigVector:
    sizes = SIG_SIZES[algorithm]
    _optional(test, group, "sk", vector_id, sizes.expanded_private_key)  # some older sets carry it
    return SigVector(vector_id=vector_id, algorithm=algorithm, checks=(VERIFY,),
                     public_key=_bytes(test, group, "pk", vector_id, sizes.public_key),
                     signature=_bytes(test, group, "signature", vector_id), expected_valid=_verdict(test, vector_id),
                     **_dsa_message(group, test, vector_id))


def _dsa_siggen(group, test, algorithm, vector_id, source) -> SigVector:
    sizes = SIG_SIZES[algorithm]
    deterministic = group.get("deterministic", True)
    if not isinstance(deterministic, bool):
        raise VectorDataError(f"vector {vector_id}: 'deterministic' is not a boolean")
    sign = SIGN_DET if deterministic else SIGN_HEDGED
    rnd = None if deterministic else _bytes(test, group, "rnd", vector_id, 32)
    public_key = _optional(test, group, "pk", vector_id, sizes.public_key)
    fields = _dsa_message(group, test, vector_id)
    unrunnable = {} if public_key is not None else {VERIFY: NO_PK_REASON}
    if fields["form"] != PURE:
        unrunnable[sign] = SIGN_FORM_REASON.format(form=fields["form"])
    return SigVector(vector_id=vector_id, algorithm=algorithm, checks=(VERIFY, sign), public_key=public_key,
                     expanded_key=_bytes(test, group, "sk", vector_id, sizes.expanded_private_key),
                     signature=_bytes(test, group, "signature", vector_id, sizes.signature), rnd=rnd,
                     unrunnable=unrunnable, **fields)


_BUILDERS = {
    ("ML-KEM", "keyGen"): _kem_keygen,
    ("ML-KEM", "encapDecap"): _kem_encap_decap,
    ("ML-DSA", "keyGen"): _dsa_keygen,
    ("ML-DSA", "sigGen"): _dsa_siggen,
    ("ML-DSA", "sigVer"): _dsa_sigver,
}
