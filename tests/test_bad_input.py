"""Bad input across the whole CLI: one line `x0ctl: error: ...`, a documented exit code, no traceback.

Every case below feeds one command something wrong (missing, empty or garbage files, invalid YAML or
JSON, wrong-typed fields, out-of-range numbers, malformed durations and URLs, a closed loopback port,
invalid environment values) and checks the contract from README.md "Exit codes": the code is exactly
the documented one for that mistake (2 for usage and malformed input, 4 for missing or unreadable files
and unreachable servers), never 70 (internal error), and stderr carries exactly one error line and no
traceback.
Cases that expose a bug are marked xfail(strict=True) with what happens, so fixing the bug turns
them into failures that ask for the marker to be removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import Cli, run_x0ctl

USAGE = {2}
IO = {4}
# One rule for every file an operator names (x0ctl/textfile.py): missing, unreadable or not a regular
# file is an I/O failure (4); readable but malformed content is bad input (2).
FILE = IO
NO_KEYSTORE = {4}  # docs/keys.md: "no keystore at the path" is exit 4 (1 is "a check failed")
DAMAGED_BACKUP = {1}  # docs/keys.md: "a backup that does not decrypt, is damaged" is exit 1
INTERNAL_ERROR = 70



def _closed_port() -> int:
    """A loopback port nothing listens on: bound once by the OS, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLOSED = _closed_port()
DEAD_URL = f"http://127.0.0.1:{CLOSED}"

COMMAND_DRIVER = b"driver: {kind: command, set_weight: 'true', rollback: 'true'}\n"

# Files the cases refer to by name: {missing}, {dir}, {empty}, {garbage}, ... (built once per module).
FILES = {
    "empty": b"",
    "garbage": bytes(range(256)) * 4 + b"\xff\xfe\x00\x00",
    "bad_yaml": b"name: x\nnodes: [1, 2\n  - : :\n\t}\n",
    "bad_json": b'{"a": [1, 2,',
    "yaml_list": b"- 1\n- 2\n",
    "yaml_scalar": b"just a string\n",
    "quorum_nodes_str": b"name: t\nnodes: ten\nbyzantine: 1\nduration: 10s\n",
    "quorum_nodes_list": b"name: t\nnodes: [1, 2]\nbyzantine: 1\nduration: 10s\n",
    "quorum_duration_bad": b"name: t\nnodes: 4\nbyzantine: 1\nduration: forever\n",
    "quorum_duration_num": b"name: t\nnodes: 4\nbyzantine: 1\nduration: {a: 1}\n",
    "quorum_unknown_key": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nfrobnicate: 3\n",
    "quorum_strategies_int": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nstrategies: 5\n",
    "quorum_protocol_str": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nprotocol: fast\n",
    "quorum_loss_str": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nnetwork: {loss: lots}\n",
    "quorum_rate_inf": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nprotocol: {rate_limit: .inf, send_rate: 1}\n",
    "quorum_latency_nan": b"name: t\nnodes: 4\nbyzantine: 1\nduration: 10s\nnetwork: {latency_median_ms: .nan}\n",
    "slo_slos_str": b"slos: nope\n",
    "slo_slos_list_of_int": b"slos: [1, 2]\n",
    "slo_target_str": (b"slos:\n  - name: s\n    objective: high\n    good: 'sum(rate(a[5m]))'\n"
                       b"    total: 'sum(rate(b[5m]))'\n"),
    "slo_openslo_bad": b"apiVersion: openslo/v1\nkind: SLO\nmetadata: 7\nspec: []\n",
    "plan_steps_str": b"steps: lots\n",
    "plan_steps_dict": b"steps: {a: 1}\n",
    "plan_bake_int_list": b"steps: [1, 10, 100]\nbake: [5]\n",
    "plan_unknown_key": b"steps: [1, 10, 100]\nfrobnicate: true\n",
    "plan_steps_decreasing": b"steps: [50, 10, 100]\n",
    "plan_gates_str": b"steps: [1, 100]\ngates: everything\n" + COMMAND_DRIVER,
    "plan_gate_kind_bad": b"steps: [1, 100]\ngates: [{name: g, kind: vibes}]\n" + COMMAND_DRIVER,
    "plan_gate_threshold_str": (b"steps: [1, 100]\ngates: [{name: g, kind: promql, query: up, pass_when: soon}]\n"
                                + COMMAND_DRIVER),
    "plan_driver_kind_bad": b"steps: [1, 100]\ndriver: {kind: teleport}\n",
    "plan_driver_str": b"steps: [1, 100]\ndriver: ssh\n",
    "config_not_mapping": b"- a\n- b\n",
    "config_profiles_str": b"profiles: prod\n",
    "config_default_missing": b"default-profile: nosuch\nprofiles:\n  prod: {}\n",
    "config_keep_str": b"default-profile: prod\nprofiles:\n  prod:\n    keep: many\n",
    "config_unknown_key": b"profiles:\n  prod:\n    frobnicate: 1\n",
    "config_timeout_str": b"default-profile: prod\nprofiles:\n  prod:\n    timeout: soon\n",
    "config_output_xml": b"default-profile: prod\nprofiles:\n  prod:\n    output: xml\n",
    "config_backend_foo": b"default-profile: prod\nprofiles:\n  prod:\n    backend: foo\n",
    "not_a_recipient": b"this is not an age recipient\n",
    "vectors_wrong_json": b'{"testGroups": "nope", "algorithm": 5}',
    "vectors_rsp_bad": b"count = 0\nseed = zz\npk = 00\n",
    "vectors_rsp_truncated": b"count = 0\nz = 00\nd = 00\npk = 0123",
    "inventory_bad": b"nodes: 7\n",
    "pem_bad": b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
}


def _mesh_json(**fields) -> bytes:
    """A key file of the mesh's Python side (hex fields), with `fields` overriding the well-formed ones."""
    base = {"key_id": "00" * 8, "algorithm": "ML-KEM-768", "key_type": "kem", "public_key": "00" * 1184,
            "private_key": "00" * 2400, "created_at": 1700000000.0, "rotated_at": None}
    return json.dumps({**base, **fields}).encode()


# Mesh key material (docs/keys.md 'Keys for the mesh'): written 0600, so the content is what is refused.
MESH_FILES = {
    "mesh_json_list": b"[1, 2]",
    "mesh_json_key_type_bad": _mesh_json(key_type="rsa"),
    "mesh_json_algorithm_bad": _mesh_json(algorithm="ML-KEM-512"),
    "mesh_json_public_not_hex": _mesh_json(public_key="zz" * 1184),
    "mesh_json_private_short": _mesh_json(private_key="00" * 10),
    # the right id for the public key, but the dk (zeros) does not hold SHA3-256(ek)
    "mesh_json_private_not_matching": _mesh_json(key_id=hashlib.sha256(bytes(1184)).hexdigest()[:16]),
    "mesh_json_encrypted": _mesh_json(private_key=None, private_key_encrypted="00" * 2428),
    "mesh_json_created_str": _mesh_json(created_at="yesterday"),
    # every coefficient 0xfff >= q: FIPS 203's modulus check fails (the dk is built to hold this ek)
    "mesh_json_public_out_of_range": _mesh_json(
        key_id=hashlib.sha256(b"\xff" * 1152 + bytes(32)).hexdigest()[:16], public_key=(b"\xff" * 1152 + bytes(32)).hex(),
        private_key=(bytes(1152) + b"\xff" * 1152 + bytes(32) + hashlib.sha3_256(b"\xff" * 1152 + bytes(32)).digest()
                     + bytes(32)).hex()),
    "mesh_master_short": b"\x00" * 20,
    "mesh_secret_sealed": b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nspec: {encryptedData: {}}\n",
    "mesh_secret_half": b"kind: Secret\ndata: {ml-kem-current-public: AAAA}\n",
    "mesh_secret_not_base64": b"kind: Secret\ndata: {ml-kem-current-public: '!!', ml-kem-current-private: '!!'}\n",
    "mesh_secret_empty_data": b"kind: Secret\ndata: {}\n",
}


KEYSTORE_DAMAGE = {
    "state_garbage": ("state.json", FILES["garbage"]),
    "state_truncated": ("state.json", b'{"epoch": 4, "format": "x0ctl-keystore/1", "keys": [{"id": '),
    "state_keys_int": ("state.json", b'{"epoch": 4, "format": "x0ctl-keystore/1", "generation": 2, "keys": 5}'),
    "state_list": ("state.json", b"[]"),
    "history_garbage": ("history.jsonl", FILES["garbage"]),
}

KEYSTORE_BUGS: dict = {}


def _edit_first_record(**fields):
    def edit(state: dict) -> None:
        state["keys"][0].update(fields)
    return edit


# Malformed records in an otherwise intact keystore: verify, rotate and list must exit 1, never 70.
KEYSTORE_EDITS = {
    "record_id_int": lambda state: state["keys"].append({"id": 1}),
    "record_not_object": lambda state: state["keys"].append("key"),
    "record_version_string": lambda state: state["keys"][0].update(version=str(state["keys"][0]["version"])),
    "record_state_unknown": _edit_first_record(state="compromised"),
    "record_created_garbage": _edit_first_record(created="yesterday"),
    "record_path_outside": _edit_first_record(private_key="../outside.key.pem"),
    "record_path_absolute": _edit_first_record(public_key="/etc/hostname"),
    "node_control_chars": lambda state: state.update(node="node\x1b[2J\x07"),
    "node_int": lambda state: state.update(node=7),
    "epoch_string": lambda state: state.update(epoch="4"),
}

JOURNALS = {
    "r-garbage": FILES["garbage"],
    "r-step-not-int": (b'{"ts": 1, "type": "created", "plan": {}}\n'
                       b'{"ts": 2, "type": "step", "step": "two", "weight": 5}\n'),
    "r-step-missing": b'{"ts": 1, "type": "created", "plan": {}}\n{"ts": 2, "type": "step"}\n',
    "r-plan-int": b'{"ts": 1, "type": "created", "plan": 5}\n',
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-input")
    found = {"missing": str(root / "does-not-exist.yaml"), "dir": str(root / "a-directory"),
             "nodir": str(root / "no" / "such" / "dir" / "out.txt"), "tmp": str(root),
             "empty_keystore": str(root / "empty-keystore"), "state": str(root / "state")}
    Path(found["dir"]).mkdir()
    Path(found["empty_keystore"]).mkdir(mode=0o700)
    Path(found["state"]).mkdir(mode=0o700)
    for name, content in FILES.items():
        path = root / name
        path.write_bytes(content)
        found[name] = str(path)
    for name, content in MESH_FILES.items():
        path = root / f"{name}.json"
        path.write_bytes(content)
        path.chmod(0o600)
        found[name] = str(path)
    found["dead"] = DEAD_URL
    found["closed"] = str(CLOSED)
    # A real keystore and age identity, so "unknown key id" and "bad backup" reach the code that checks them.
    found["keystore"] = str(root / "keystore")
    found["identity"] = str(root / "identity.key")
    cli = Cli()
    for args in (["keys", "generate", "--node", "bad-input", "--keystore", found["keystore"]],
                 ["keys", "backup-identity", "--out", found["identity"]]):
        result = cli(*args, env={"XDG_DATA_HOME": str(root / "data")})
        assert result.exit_code == 0, (args, result.stderr)
    # Damaged copies of it: a disk error, a bad restore or a hand edit leaves exactly these.
    for name, damage in KEYSTORE_DAMAGE.items():
        copy = root / f"keystore-{name}"
        shutil.copytree(found["keystore"], copy)
        target, content = damage
        (copy / target).write_bytes(content)
        found[f"keystore_{name}"] = str(copy)
    for name, edit in KEYSTORE_EDITS.items():
        copy = root / f"keystore-{name}"
        shutil.copytree(found["keystore"], copy)
        state = json.loads((copy / "state.json").read_text())
        edit(state)
        (copy / "state.json").write_text(json.dumps(state))
        found[f"keystore_{name}"] = str(copy)
    # Rollout journals with damaged events (garbage lines alone are skipped by design: torn writes).
    rollouts = Path(found["state"]) / "rollouts"
    rollouts.mkdir(mode=0o700)
    for rollout_id, content in JOURNALS.items():
        (rollouts / f"{rollout_id}.jsonl").write_bytes(content)
    return found


@pytest.fixture(scope="module")
def isolated_env(paths) -> dict[str, str]:
    """XDG homes in the module's tmp dir, so no case reads or writes the real keystore, state or config."""
    root = paths["tmp"]
    return {"XDG_DATA_HOME": f"{root}/data", "XDG_STATE_HOME": f"{root}/xdg-state",
            "XDG_CONFIG_HOME": f"{root}/xdg-config", "X0CTL_KEYSTORE": f"{root}/keystore-default",
            "X0CTL_PROMETHEUS_URL": DEAD_URL}


def case(name, args, expect=USAGE, *, env=None, subprocess=False, timeout=20.0, bug=None):
    """One bad input; `subprocess` runs a fresh interpreter (for commands that would block in-process)."""
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(args, expect, env or {}, subprocess and timeout, id=name, marks=marks)


# A complete command-driver canary against the closed port: each case breaks exactly one more option, and
# validation must refuse it before anything runs (a valid plan would bake for minutes).
CANARY = ["rollout", "canary", "--steps", "100", "--target", "bad-input", "--set-weight-cmd", "true",
          "--rollback-cmd", "true", "-p", DEAD_URL, "--timeout", "1", "--state-dir", "{state}"]

CASES = [
    # Global options and environment.
    case("global-unknown-command", ["frobnicate"]),
    case("global-unknown-option", ["--frobnicate", "version"]),
    case("global-output-xml", ["-o", "xml", "version"]),
    case("global-output-xml-after-command", ["version", "-o", "xml"]),
    case("env-output-xml", ["version"], env={"X0CTL_OUTPUT": "xml"}),
    case("env-output-xml-subprocess", ["version"], env={"X0CTL_OUTPUT": "xml"}, subprocess=True),
    case("global-backend-foo", ["--backend", "foo", "version"]),
    case("env-backend-foo", ["version"], env={"X0CTL_BACKEND": "foo"}),
    case("env-backend-foo-subprocess", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0CTL_BACKEND": "foo"},
         subprocess=True),
    case("env-production-maybe-kat", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0TTA6BL4_PRODUCTION": "maybe"}),
    case("env-production-maybe-selftest", ["handshake", "selftest", "-n", "1"],
         env={"X0TTA6BL4_PRODUCTION": "maybe"}),
    case("env-production-maybe-subprocess", ["verify", "kat", "-a", "ML-KEM-768"],
         env={"X0TTA6BL4_PRODUCTION": "maybe"}, subprocess=True),
    case("env-production-1-kat", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0TTA6BL4_PRODUCTION": "1"}),
    case("env-production-yes-kat", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0TTA6BL4_PRODUCTION": "yes"}),
    case("env-allow-mock-on", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0TTA6BL4_ALLOW_MOCK_PQC": "on"}),
    case("env-allow-mock-perhaps", ["verify", "kat", "-a", "ML-KEM-768"], env={"X0TTA6BL4_ALLOW_MOCK_PQC": "perhaps"}),
    case("env-profile-without-config", ["version"], env={"X0CTL_PROFILE": "prod"}),
    case("global-profile-without-config", ["--profile", "prod", "version"]),
    case("version-output-xml", ["version", "--output", "XML!"]),
    case("completion-no-shell", ["completion"]),
    case("completion-powershell", ["completion", "powershell"]),
    # config
    case("config-missing-file", ["config", "show"], FILE, env={"X0CTL_CONFIG": "{missing}"}),
    case("config-directory", ["config", "show"], FILE, env={"X0CTL_CONFIG": "{dir}"}),
    case("config-garbage", ["config", "show"], env={"X0CTL_CONFIG": "{garbage}"}),
    case("config-bad-yaml", ["config", "show"], env={"X0CTL_CONFIG": "{bad_yaml}"}),
    case("config-not-mapping", ["config", "show"], env={"X0CTL_CONFIG": "{config_not_mapping}"}),
    case("config-profiles-str", ["config", "show"], env={"X0CTL_CONFIG": "{config_profiles_str}"}),
    case("config-default-profile-missing", ["config", "show"], env={"X0CTL_CONFIG": "{config_default_missing}"}),
    case("config-keep-str", ["keys", "rotate", "--dry-run", "--keystore", "{keystore}"],
         env={"X0CTL_CONFIG": "{config_keep_str}"}),
    case("config-unknown-key", ["config", "show"], env={"X0CTL_CONFIG": "{config_unknown_key}"}),
    case("config-unknown-profile", ["--profile", "nosuch", "config", "show"],
         env={"X0CTL_CONFIG": "{config_timeout_str}"}),
    case("config-timeout-str", ["slo", "status"], env={"X0CTL_CONFIG": "{config_timeout_str}"}),
    case("config-output-xml", ["version"], env={"X0CTL_CONFIG": "{config_output_xml}"}),
    case("config-backend-foo", ["version"], env={"X0CTL_CONFIG": "{config_backend_foo}"}),
    # doctor
    case("doctor-prometheus-not-url", ["doctor", "--no-measure", "--prometheus", "not a url"], {1}),
    case("doctor-prometheus-closed-port", ["doctor", "--no-measure", "--prometheus", "{dead}"], {1}),
    case("doctor-keystore-is-file", ["doctor", "--no-measure", "--keystore", "{garbage}"], {1},
         env={"X0CTL_PROMETHEUS_URL": None}),
    # verify kat
    case("kat-unknown-algorithm", ["verify", "kat", "-a", "ML-KEM-1"]),
    case("kat-empty-algorithms", ["verify", "kat", "-a", ","]),
    case("kat-backend-foo", ["verify", "kat", "--backend", "foo"]),
    case("kat-vectors-missing", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{missing}"], FILE),
    case("kat-vectors-dir", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{dir}"], FILE),
    case("kat-vectors-empty", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{empty}"]),
    case("kat-vectors-garbage", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{garbage}"]),
    case("kat-vectors-bad-json", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{bad_json}"]),
    case("kat-vectors-wrong-json", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{vectors_wrong_json}"]),
    case("kat-vectors-bad-rsp", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{vectors_rsp_bad}"]),
    case("kat-vectors-truncated-rsp", ["verify", "kat", "-a", "ML-KEM-768", "--vectors", "{vectors_rsp_truncated}"]),
    # keys
    case("keys-list-keystore-is-file", ["keys", "list", "--keystore", "{garbage}"], NO_KEYSTORE),
    case("keys-list-empty-dir", ["keys", "list", "--keystore", "{empty_keystore}"], NO_KEYSTORE),
    case("keys-verify-keystore-is-file", ["keys", "verify", "--keystore", "{garbage}"], NO_KEYSTORE),
    # `keys list` reads state.json only (a damaged history is for `keys verify` to find, exit 1).
    *(case(f"keys-{command}-{damage}".replace("_", "-"), ["keys", command, "--keystore", f"{{keystore_{damage}}}"],
           {1},
           bug=KEYSTORE_BUGS.get((command, damage)))
      for damage in KEYSTORE_DAMAGE for command in ("list", "verify")
      if (command, damage) != ("list", "history_garbage")),
    *(case(f"keys-{command}-{edit}".replace("_", "-"), ["keys", command, "--keystore", f"{{keystore_{edit}}}"], {1})
      for edit in KEYSTORE_EDITS for command in ("list", "verify", "rotate")),
    case("keys-show-unknown-id", ["keys", "show", "deadbeef", "--keystore", "{keystore}"], USAGE),
    case("keys-show-not-hex", ["keys", "show", "zz-not-hex", "--keystore", "{keystore}"], USAGE),
    case("keys-revoke-unknown-id", ["keys", "revoke", "deadbeef", "--reason", "x", "--keystore", "{keystore}"],
         USAGE),
    case("keys-history-missing-keystore", ["keys", "history", "--keystore", "{missing}"], NO_KEYSTORE),
    case("keys-generate-validity-bad", ["keys", "generate", "--validity", "soon", "--keystore", "{tmp}/ks-v1"]),
    case("keys-generate-validity-zero", ["keys", "generate", "--validity", "0d", "--keystore", "{tmp}/ks-v2"]),
    case("keys-generate-validity-negative", ["keys", "generate", "--validity", "-5d", "--keystore", "{tmp}/ks-v3"]),
    case("keys-generate-validity-huge", ["keys", "generate", "--validity", "99999999999d", "--keystore",
                                         "{tmp}/ks-v4"]),
    case("keys-generate-keystore-is-file", ["keys", "generate", "--keystore", "{garbage}"], FILE),
    case("keys-rotate-keep-negative", ["keys", "rotate", "--keep", "-1", "--keystore", "{keystore}"]),
    case("keys-rotate-if-older-bad", ["keys", "rotate", "--if-older-than", "a while", "--keystore",
                                      "{keystore}"]),
    case("keys-rotate-purpose-bad", ["keys", "rotate", "--purpose", "both", "--keystore", "{keystore}"]),
    case("keys-rotate-stage-bad", ["keys", "rotate", "--stage", "finish", "--keystore", "{keystore}"]),
    case("keys-rotate-metrics-file-dir", ["keys", "rotate", "--metrics-file", "{dir}", "--keystore",
                                          "{keystore}"], IO),
    case("keys-export-purpose-bad", ["keys", "export-public", "--purpose", "enc", "--keystore", "{keystore}"]),
    case("keys-export-format-bad", ["keys", "export-public", "--format", "der", "--keystore", "{keystore}"]),
    case("keys-generate-purpose-bad", ["keys", "generate", "--purpose", "mesh", "--keystore", "{keystore}"]),
    case("keys-generate-purpose-exists", ["keys", "generate", "--purpose", "sig", "--keystore", "{keystore}"]),
    case("keys-export-mesh-format-bad", ["keys", "export", "--format", "pem", "--out", "{tmp}/s1.yaml",
                                         "--keystore", "{keystore}"]),
    case("keys-export-mesh-no-mesh-keys", ["keys", "export", "--out", "{tmp}/s2.yaml", "--keystore", "{keystore}"]),
    case("keys-export-mesh-name-bad", ["keys", "export", "--name", "Mesh_Keys", "--out", "{tmp}/s3.yaml",
                                       "--keystore", "{keystore}"]),
    case("keys-export-mesh-json-needs-out", ["keys", "export", "-o", "json", "--keystore", "{keystore}"]),
    case("keys-import-format-bad", ["keys", "import", "--format", "pem", "{mesh_json_list}", "--keystore",
                                    "{keystore}"]),
    case("keys-import-missing-file", ["keys", "import", "--format", "mesh-json", "{missing}", "--keystore",
                                      "{keystore}"], FILE),
    case("keys-import-group-readable", ["keys", "import", "--format", "mesh-json", "{bad_json}", "--keystore",
                                        "{keystore}"]),
    case("keys-import-no-keystore", ["keys", "import", "--format", "mesh-secret", "{mesh_secret_sealed}",
                                     "--keystore", "{empty_keystore}"]),
    *(case(f"keys-import-{name.replace('_', '-')}", ["keys", "import", "--format", "mesh-json", f"{{{name}}}",
                                                      "--keystore", "{keystore}"])
      for name in MESH_FILES if name.startswith("mesh_json")),
    case("keys-import-mesh-master-short", ["keys", "import", "--format", "mesh-json", "{mesh_json_encrypted}",
                                           "--mesh-master-key", "{mesh_master_short}", "--mesh-node-id", "n1",
                                           "--keystore", "{keystore}"]),
    case("keys-import-mesh-master-without-node", ["keys", "import", "--format", "mesh-json", "{mesh_json_encrypted}",
                                                  "--mesh-master-key", "{mesh_master_short}", "--keystore",
                                                  "{keystore}"]),
    *(case(f"keys-import-{name.replace('_', '-')}", ["keys", "import", "--format", "mesh-secret", f"{{{name}}}",
                                                      "--keystore", "{keystore}"])
      for name in MESH_FILES if name.startswith("mesh_secret")),
    case("keys-import-mesh-secret-two-files", ["keys", "import", "--format", "mesh-secret", "{mesh_secret_half}",
                                               "{mesh_secret_half}", "--keystore", "{keystore}"]),
    case("keys-backup-identity-out-dir", ["keys", "backup-identity", "--out", "{dir}"]),  # exists: --force
    case("keys-backup-identity-out-dir-force", ["keys", "backup-identity", "--out", "{dir}", "--force"], FILE),
    case("keys-backup-identity-out-nodir", ["keys", "backup-identity", "--out", "{nodir}"], FILE),
    case("keys-backup-bad-recipient", ["keys", "backup", "--out", "{tmp}/b1.age", "-r", "age1notarecipient",
                                       "--keystore", "{keystore}"], USAGE),
    case("keys-backup-recipients-file-garbage", ["keys", "backup", "--out", "{tmp}/b2.age", "-R", "{garbage}",
                                                 "--keystore", "{keystore}"], USAGE),
    case("keys-backup-recipients-file-not-recipient", ["keys", "backup", "--out", "{tmp}/b7.age", "-R",
                                                      "{not_a_recipient}", "--keystore", "{keystore}"]),
    case("keys-backup-recipients-file-missing", ["keys", "backup", "--out", "{tmp}/b3.age", "-R", "{missing}",
                                                 "--keystore", "{keystore}"], FILE),
    case("keys-backup-work-factor-huge", ["keys", "backup", "--out", "{tmp}/b4.age", "--passphrase-env", "HOME",
                                          "--scrypt-work-factor", "99", "--keystore", "{keystore}"], USAGE),
    case("keys-backup-passphrase-env-unset", ["keys", "backup", "--out", "{tmp}/b5.age", "--passphrase-env",
                                              "X0CTL_TEST_UNSET_VARIABLE", "--keystore", "{keystore}"], USAGE),
    case("keys-backup-no-recipient", ["keys", "backup", "--out", "{tmp}/b6.age", "--keystore", "{keystore}"],
         USAGE),
    case("keys-restore-missing", ["keys", "restore", "{missing}", "--identity", "{identity}", "--keystore",
                                  "{tmp}/ks-r1"], FILE),
    case("keys-restore-dir", ["keys", "restore", "{dir}", "--identity", "{identity}", "--keystore", "{tmp}/ks-r2"],
         FILE),
    case("keys-restore-garbage", ["keys", "restore", "{garbage}", "--identity", "{identity}", "--keystore",
                                  "{tmp}/ks-r3"], DAMAGED_BACKUP),
    case("keys-restore-empty", ["keys", "restore", "{empty}", "--passphrase-file", "{empty}", "--keystore",
                                "{tmp}/ks-r4"], USAGE),
    case("keys-restore-identity-garbage", ["keys", "restore", "{garbage}", "--identity", "{garbage}", "--keystore",
                                           "{tmp}/ks-r6"], USAGE),
    case("keys-restore-passphrase-file-garbage", ["keys", "restore", "{garbage}", "--passphrase-file", "{garbage}",
                                                  "--keystore", "{tmp}/ks-r7"], DAMAGED_BACKUP),
    case("keys-restore-identity-missing", ["keys", "restore", "{garbage}", "--identity", "{missing}", "--keystore",
                                           "{tmp}/ks-r5"], FILE),
    # handshake
    case("selftest-count-zero", ["handshake", "selftest", "-n", "0"]),
    case("selftest-count-negative", ["handshake", "selftest", "-n", "-5"]),
    case("selftest-count-huge", ["handshake", "selftest", "-n", "99999999999999999999"]),
    case("selftest-count-not-int", ["handshake", "selftest", "-n", "many"]),
    case("selftest-concurrency-zero", ["handshake", "selftest", "-n", "1", "-c", "0"]),
    case("selftest-backend-foo", ["handshake", "selftest", "-n", "1", "--backend", "foo"]),
    case("selftest-min-success-rate-200", ["handshake", "selftest", "-n", "1", "--min-success-rate", "200"]),
    case("selftest-max-p95-negative", ["handshake", "selftest", "-n", "1", "--max-p95-ms", "-1"]),
    case("selftest-pushgateway-not-url", ["handshake", "selftest", "-n", "1", "--pushgateway", "not a url"]),
    case("selftest-pushgateway-closed-port", ["handshake", "selftest", "-n", "1", "--pushgateway", "{dead}"], IO),
    case("selftest-metrics-file-dir", ["handshake", "selftest", "-n", "1", "--metrics-file", "{dir}"], FILE),
    case("selftest-metrics-file-nodir", ["handshake", "selftest", "-n", "1", "--metrics-file", "{nodir}"], FILE),
    case("probe-closed-port", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--timeout", "1",
                               "--insecure-any-peer"], IO),
    case("probe-no-pin", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1"]),
    case("probe-pin-and-any-peer", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--insecure-any-peer",
                                    "--peer-fingerprint", "sha256:" + "ab" * 32]),
    case("probe-not-host-port", ["handshake", "probe", "nonsense", "-n", "1"]),
    case("probe-port-huge", ["handshake", "probe", "127.0.0.1:99999", "-n", "1"]),
    case("probe-port-negative", ["handshake", "probe", "127.0.0.1:-1", "-n", "1"]),
    case("probe-port-zero", ["handshake", "probe", "127.0.0.1:0", "-n", "1"]),
    case("probe-port-not-number", ["handshake", "probe", "127.0.0.1:http", "-n", "1"]),
    case("probe-count-zero", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "0"]),
    case("probe-timeout-zero", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--timeout", "0"]),
    case("probe-timeout-negative", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--timeout", "-1"]),
    case("probe-max-message-size-zero", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1",
                                         "--max-message-size", "0"]),
    case("probe-peer-key-missing", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--peer-key",
                                    "{missing}"], FILE),
    case("probe-peer-key-garbage", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--peer-key",
                                    "{garbage}"]),
    case("probe-peer-key-empty", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--peer-key", "{empty}"]),
    case("probe-peer-fingerprint-bad", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1",
                                        "--peer-fingerprint", "md5:xyz"]),
    case("probe-identity-garbage", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--identity",
                                    "{garbage}"]),
    case("probe-identity-bad-pem", ["handshake", "probe", "127.0.0.1:{closed}", "-n", "1", "--identity",
                                    "{pem_bad}"]),
    case("probe-inventory-missing", ["handshake", "probe", "--inventory", "{missing}"], FILE),
    case("probe-inventory-dir", ["handshake", "probe", "--inventory", "{dir}"], FILE),
    case("probe-inventory-empty", ["handshake", "probe", "--inventory", "{empty}"]),
    case("probe-inventory-garbage", ["handshake", "probe", "--inventory", "{garbage}"]),
    case("probe-inventory-and-target", ["handshake", "probe", "127.0.0.1:{closed}", "--inventory", "{empty}"]),
    case("probe-concurrency-zero", ["handshake", "probe", "--inventory", "{empty}", "--concurrency", "0"]),
    case("serve-min-rate-negative", ["handshake", "serve", "--allow-any-peer", "--min-rate", "-1"]),
    case("serve-metrics-listen-not-host-port", ["handshake", "serve", "--allow-any-peer", "--listen", "127.0.0.1:0",
                                                "--metrics-listen", "nonsense"]),
    case("serve-listen-not-host-port", ["handshake", "serve", "--listen", "nonsense"], subprocess=True),
    case("serve-listen-port-huge", ["handshake", "serve", "--listen", "127.0.0.1:99999"], subprocess=True),
    case("serve-identity-missing", ["handshake", "serve", "--listen", "127.0.0.1:0", "--identity", "{missing}"],
         FILE, subprocess=True),
    case("serve-identity-garbage", ["handshake", "serve", "--listen", "127.0.0.1:0", "--identity", "{garbage}"],
         subprocess=True),
    case("serve-peer-key-garbage", ["handshake", "serve", "--listen", "127.0.0.1:0", "--peer-key", "{garbage}"],
         subprocess=True),
    case("serve-no-allow-list", ["handshake", "serve", "--listen", "127.0.0.1:0"], subprocess=True),
    case("serve-allow-list-and-any-peer", ["handshake", "serve", "--listen", "127.0.0.1:0", "--allow-any-peer",
                                           "--peer-fingerprint", "sha256:" + "ab" * 32], subprocess=True),
    case("serve-peers-file-garbage", ["handshake", "serve", "--listen", "127.0.0.1:0", "--peers-file", "{garbage}"],
         subprocess=True),
    case("serve-peers-file-missing", ["handshake", "serve", "--listen", "127.0.0.1:0", "--peers-file", "{missing}"],
         FILE, subprocess=True),
    case("serve-max-connections-zero", ["handshake", "serve", "--max-connections", "0"]),
    case("serve-read-timeout-zero", ["handshake", "serve", "--read-timeout", "0"]),
    # quorum
    case("quorum-nodes-zero", ["quorum", "simulate", "--nodes", "0"]),
    case("quorum-nodes-negative", ["quorum", "simulate", "--nodes", "-5"]),
    case("quorum-nodes-huge", ["quorum", "simulate", "--nodes", "1000000000", "--byzantine", "0"], subprocess=True,
         timeout=4),
    case("quorum-byzantine-negative", ["quorum", "simulate", "--nodes", "4", "--byzantine", "-1"]),
    case("quorum-byzantine-above-nodes", ["quorum", "simulate", "--nodes", "4", "--byzantine", "9"]),
    case("quorum-duration-bad", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--duration", "forever"]),
    case("quorum-duration-negative", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--duration", "-5s"]),
    case("quorum-duration-zero", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--duration", "0s"]),
    case("quorum-duration-huge", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--duration",
                                  "99999999999999d"]),
    case("quorum-loss-above-one", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--loss", "2"]),
    case("quorum-loss-negative", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--loss", "-0.1"]),
    case("quorum-loss-nan", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--loss", "nan"]),
    case("quorum-trials-zero", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--trials", "0"]),
    case("quorum-jobs-zero", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--jobs", "0"]),
    case("quorum-strategy-unknown", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "-s", "teleport"]),
    case("quorum-sweep-reversed", ["quorum", "simulate", "--nodes", "4", "--sweep-byzantine", "3..1"]),
    case("quorum-sweep-garbage", ["quorum", "simulate", "--nodes", "4", "--sweep-byzantine", "abc"]),
    case("quorum-sweep-above-nodes", ["quorum", "simulate", "--nodes", "4", "--sweep-byzantine", "0..99"]),
    case("quorum-plot-without-sweep", ["quorum", "simulate", "--nodes", "4", "--byzantine", "1", "--plot",
                                       "{tmp}/p.svg"]),
    case("quorum-plot-bad-suffix", ["quorum", "simulate", "--nodes", "4", "--sweep-byzantine", "0..1", "--plot",
                                    "{tmp}/p.txt"]),
    case("quorum-scenario-missing", ["quorum", "simulate", "--scenario", "{missing}"], FILE),
    case("quorum-scenario-dir", ["quorum", "simulate", "--scenario", "{dir}"], FILE),
    case("quorum-scenario-empty", ["quorum", "simulate", "--scenario", "{empty}"]),
    case("quorum-scenario-garbage", ["quorum", "simulate", "--scenario", "{garbage}"]),
    case("quorum-scenario-bad-yaml", ["quorum", "simulate", "--scenario", "{bad_yaml}"]),
    case("quorum-scenario-list", ["quorum", "simulate", "--scenario", "{yaml_list}"]),
    case("quorum-scenario-scalar", ["quorum", "simulate", "--scenario", "{yaml_scalar}"]),
    case("quorum-scenario-nodes-str", ["quorum", "simulate", "--scenario", "{quorum_nodes_str}"]),
    case("quorum-scenario-nodes-list", ["quorum", "simulate", "--scenario", "{quorum_nodes_list}"]),
    case("quorum-scenario-duration-bad", ["quorum", "simulate", "--scenario", "{quorum_duration_bad}"]),
    case("quorum-scenario-duration-mapping", ["quorum", "simulate", "--scenario", "{quorum_duration_num}"]),
    case("quorum-scenario-unknown-key", ["quorum", "simulate", "--scenario", "{quorum_unknown_key}"]),
    case("quorum-scenario-strategies-int", ["quorum", "simulate", "--scenario", "{quorum_strategies_int}"]),
    case("quorum-scenario-protocol-str", ["quorum", "simulate", "--scenario", "{quorum_protocol_str}"]),
    case("quorum-scenario-loss-str", ["quorum", "simulate", "--scenario", "{quorum_loss_str}"]),
    case("quorum-scenario-rate-limit-inf", ["quorum", "simulate", "--scenario", "{quorum_rate_inf}"]),
    case("quorum-scenario-latency-nan", ["quorum", "simulate", "--scenario", "{quorum_latency_nan}"]),
    case("quorum-adversary-missing", ["quorum", "simulate", "-n", "4", "-f", "1", "--adversary", "/nonexistent/a.py"],
         IO),
    case("quorum-adversary-not-python", ["quorum", "simulate", "-n", "4", "-f", "1", "--adversary", "a.yaml"]),
    case("quorum-fuzz-trials-zero", ["quorum", "fuzz", "--trials", "0"]),
    case("quorum-fuzz-nodes-tiny", ["quorum", "fuzz", "--nodes", "2..3"]),
    case("quorum-fuzz-nodes-text", ["quorum", "fuzz", "--nodes", "many"]),
    case("quorum-fuzz-byzantine-text", ["quorum", "fuzz", "--byzantine", "lots"]),
    case("quorum-fuzz-budget-negative", ["quorum", "fuzz", "--time-budget", "-5s"]),
    case("quorum-replay-missing", ["quorum", "replay", "/nonexistent/ce.json"], IO),
    # slo
    case("slo-status-closed-port", ["slo", "status", "-p", "{dead}", "--timeout", "1"], IO),
    case("slo-check-closed-port", ["slo", "check", "-p", "{dead}", "--timeout", "1"], IO),
    case("slo-status-not-url", ["slo", "status", "-p", "not a url"]),
    case("slo-status-ftp-url", ["slo", "status", "-p", "ftp://127.0.0.1/"]),
    case("slo-status-url-no-host", ["slo", "status", "-p", "http://"]),
    case("slo-status-url-port-huge", ["slo", "status", "-p", "http://127.0.0.1:99999"]),
    case("slo-status-timeout-zero", ["slo", "status", "-p", "{dead}", "--timeout", "0"]),
    case("slo-status-timeout-negative", ["slo", "status", "-p", "{dead}", "--timeout", "-1"]),
    case("slo-status-timeout-not-number", ["slo", "status", "-p", "{dead}", "--timeout", "soon"]),
    case("slo-status-at-bad", ["slo", "status", "-p", "{dead}", "--at", "yesterday-ish"]),
    case("slo-status-selector-bad", ["slo", "status", "-p", "{dead}", "--selector", "{job=="]),
    case("slo-status-token-file-missing", ["slo", "status", "-p", "{dead}", "--token-file", "{missing}"], FILE),
    case("slo-status-token-file-dir", ["slo", "status", "-p", "{dead}", "--token-file", "{dir}"], FILE),
    case("slo-status-token-file-empty", ["slo", "status", "-p", "{dead}", "--token-file", "{empty}"]),
    case("slo-status-token-and-basic-auth", ["slo", "status", "-p", "{dead}", "--token-file", "{bad_json}",
                                             "--basic-auth-env", "X0CTL_TEST_BASIC_AUTH"],
         env={"X0CTL_TEST_BASIC_AUTH": "user:password"}),
    case("slo-status-basic-auth-malformed", ["slo", "status", "-p", "{dead}", "--basic-auth-env",
                                             "X0CTL_TEST_BASIC_AUTH"],
         env={"X0CTL_TEST_BASIC_AUTH": "no-colon-here"}),
    case("slo-status-ca-bundle-garbage", ["slo", "status", "-p", "https://127.0.0.1:{closed}", "--ca-bundle",
                                          "{garbage}"], USAGE),
    case("slo-status-client-cert-missing", ["slo", "status", "-p", "https://127.0.0.1:{closed}", "--client-cert",
                                            "{missing}"], FILE),
    case("slo-status-spec-missing", ["slo", "status", "-p", "{dead}", "-f", "{missing}"], FILE),
    case("slo-status-spec-garbage", ["slo", "status", "-p", "{dead}", "-f", "{garbage}"]),
    case("slo-check-spec-bad-yaml", ["slo", "check", "-p", "{dead}", "-f", "{bad_yaml}"]),
    case("slo-rules-spec-dir", ["slo", "rules", "-f", "{dir}"], FILE),
    case("slo-rules-out-dir", ["slo", "rules", "--out", "{dir}"], FILE),
    case("slo-rules-out-nodir", ["slo", "rules", "--out", "{nodir}"], FILE),
    case("slo-rules-selector-bad", ["slo", "rules", "--selector", "job=\"x\""]),
    case("slo-query-closed-port", ["slo", "query", "up", "-p", "{dead}", "--timeout", "1"], IO),
    case("slo-query-empty-promql", ["slo", "query", "", "-p", "{dead}"]),
    case("slo-query-at-bad", ["slo", "query", "up", "-p", "{dead}", "--at", "noon"]),
    case("slo-validate-missing", ["slo", "validate", "{missing}"], FILE),
    case("slo-validate-dir", ["slo", "validate", "{dir}"], FILE),
    case("slo-validate-empty", ["slo", "validate", "{empty}"]),
    case("slo-validate-garbage", ["slo", "validate", "{garbage}"]),
    case("slo-validate-bad-yaml", ["slo", "validate", "{bad_yaml}"]),
    case("slo-validate-bad-json", ["slo", "validate", "{bad_json}"]),
    case("slo-validate-list", ["slo", "validate", "{yaml_list}"]),
    case("slo-validate-slos-str", ["slo", "validate", "{slo_slos_str}"]),
    case("slo-validate-slos-ints", ["slo", "validate", "{slo_slos_list_of_int}"]),
    case("slo-validate-objective-str", ["slo", "validate", "{slo_target_str}"]),
    case("slo-validate-openslo-bad", ["slo", "validate", "{slo_openslo_bad}"]),
    # rollout
    case("rollout-plan-steps-garbage", ["rollout", "plan", "--steps", "abc", "--no-query"]),
    case("rollout-plan-steps-decreasing", ["rollout", "plan", "--steps", "50,10,100", "--no-query"]),
    case("rollout-plan-steps-zero", ["rollout", "plan", "--steps", "0,100", "--no-query"]),
    case("rollout-plan-steps-above-100", ["rollout", "plan", "--steps", "10,150", "--no-query"]),
    case("rollout-plan-steps-negative", ["rollout", "plan", "--steps=-10,100", "--no-query"]),
    case("rollout-plan-steps-bad-bake", ["rollout", "plan", "--steps", "10:soon,100", "--no-query"]),
    case("rollout-plan-step-zero", ["rollout", "plan", "--step", "0", "--no-query"]),
    case("rollout-plan-step-negative", ["rollout", "plan", "--step", "-10", "--no-query"]),
    case("rollout-plan-step-huge", ["rollout", "plan", "--step", "1000", "--no-query"]),
    case("rollout-plan-bake-bad", ["rollout", "plan", "--bake", "soon", "--no-query"]),
    case("rollout-plan-bake-negative", ["rollout", "plan", "--bake", "-5m", "--no-query"]),
    case("rollout-plan-interval-zero", ["rollout", "plan", "--interval", "0s", "--no-query"]),
    case("rollout-plan-gate-no-threshold", ["rollout", "plan", "--gate-promql", "just_a_metric", "--no-query"]),
    case("rollout-plan-gate-bad-threshold", ["rollout", "plan", "--gate-promql", "up < lots", "--no-query"]),
    case("rollout-plan-timeout-negative", ["rollout", "plan", "--timeout", "-1", "--no-query"]),
    case("rollout-plan-prometheus-not-url", ["rollout", "plan", "-p", "not a url"]),
    case("rollout-plan-closed-port", ["rollout", "plan", "--steps", "1,100", "--gate-promql", "up < 1", "-p",
                                      "{dead}", "--timeout", "1"], IO),
    case("rollout-plan-file-missing", ["rollout", "plan", "-f", "{missing}", "--no-query"], FILE),
    case("rollout-plan-file-dir", ["rollout", "plan", "-f", "{dir}", "--no-query"], FILE),
    case("rollout-plan-file-empty", ["rollout", "plan", "-f", "{empty}", "--no-query"]),
    case("rollout-plan-file-garbage", ["rollout", "plan", "-f", "{garbage}", "--no-query"]),
    case("rollout-plan-file-bad-yaml", ["rollout", "plan", "-f", "{bad_yaml}", "--no-query"]),
    case("rollout-plan-file-list", ["rollout", "plan", "-f", "{yaml_list}", "--no-query"]),
    case("rollout-plan-file-steps-str", ["rollout", "plan", "-f", "{plan_steps_str}", "--no-query"]),
    case("rollout-plan-file-steps-dict", ["rollout", "plan", "-f", "{plan_steps_dict}", "--no-query"]),
    case("rollout-plan-file-bake-list", ["rollout", "plan", "-f", "{plan_bake_int_list}", "--no-query"]),
    case("rollout-plan-file-unknown-key", ["rollout", "plan", "-f", "{plan_unknown_key}", "--no-query"]),
    case("rollout-plan-file-steps-decreasing", ["rollout", "plan", "-f", "{plan_steps_decreasing}", "--no-query"]),
    case("rollout-plan-file-gates-str", ["rollout", "plan", "-f", "{plan_gates_str}", "--no-query"]),
    case("rollout-plan-file-gate-kind-bad", ["rollout", "plan", "-f", "{plan_gate_kind_bad}", "--no-query"]),
    case("rollout-plan-file-gate-threshold-str", ["rollout", "plan", "-f", "{plan_gate_threshold_str}",
                                                  "--no-query"]),
    case("rollout-plan-file-driver-kind-bad", ["rollout", "plan", "-f", "{plan_driver_kind_bad}", "--no-query"]),
    case("rollout-plan-file-driver-str", ["rollout", "plan", "-f", "{plan_driver_str}", "--no-query"]),
    case("rollout-canary-on-fail-bad", [*CANARY, "--on-fail", "explode"]),
    case("rollout-canary-on-error-bad", [*CANARY, "--on-error", "shrug"]),
    case("rollout-canary-min-requests-negative", [*CANARY, "--min-requests", "-1"]),
    case("rollout-canary-window-zero", [*CANARY, "--window", "0s"]),
    case("rollout-canary-cmd-timeout-zero", [*CANARY, "--cmd-timeout", "0s"]),
    case("rollout-canary-initial-delay-negative", [*CANARY, "--initial-delay", "-1s"]),
    case("rollout-canary-no-driver", ["rollout", "canary", "--steps", "100", "--state-dir", "{state}"]),
    case("rollout-canary-consecutive-zero", [*CANARY, "--consecutive", "0"]),
    case("rollout-canary-cmd-retries-negative", [*CANARY, "--cmd-retries", "-1"]),
    case("rollout-canary-concurrency-zero", ["rollout", "canary", "--steps", "100", "--inventory", "{inventory_bad}",
                                             "--upgrade-cmd", "true", "--downgrade-cmd", "true", "--concurrency", "0",
                                             "--state-dir", "{state}"]),
    case("rollout-canary-webhook-not-url", [*CANARY, "--notify-webhook", "nope"]),
    case("rollout-canary-replay-speed-negative", [*CANARY, "--at", "0", "--replay-speed", "-1"]),
    case("rollout-canary-inventory-bad", ["rollout", "canary", "--steps", "100", "--inventory",
                                          "{inventory_bad}", "--upgrade-cmd", "true", "--downgrade-cmd", "true",
                                          "--state-dir", "{state}"]),
    case("rollout-canary-plan-garbage", ["rollout", "canary", "-f", "{garbage}", "--state-dir", "{state}"]),
    case("rollout-status-unknown-id", ["rollout", "status", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-history-unknown-id", ["rollout", "history", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-pause-unknown-id", ["rollout", "pause", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-resume-unknown-id", ["rollout", "resume", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-rollback-unknown-id", ["rollout", "rollback", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-promote-unknown-id", ["rollout", "promote", "r-nosuch", "--state-dir", "{state}"], USAGE),
    case("rollout-status-journal-garbage", ["rollout", "status", "r-garbage", "--state-dir", "{state}"], USAGE),
    case("rollout-status-journal-step-not-int", ["rollout", "status", "r-step-not-int", "--state-dir", "{state}"],
         USAGE),
    case("rollout-status-journal-step-missing", ["rollout", "status", "r-step-missing", "--state-dir", "{state}"],
         USAGE),
    case("rollout-status-journal-plan-int", ["rollout", "status", "r-plan-int", "--state-dir", "{state}"], USAGE),
    case("rollout-history-journal-plan-int", ["rollout", "history", "r-plan-int", "--state-dir", "{state}"], USAGE),
    case("rollout-list-state-dir-is-file", ["rollout", "list", "--state-dir", "{garbage}"], FILE),
    case("rollout-status-id-path-traversal", ["rollout", "status", "../../etc/passwd", "--state-dir", "{state}"],
         USAGE),
    # mesh interop (docs/mesh.md)
    case("quorum-verify-missing", ["quorum", "verify", "--format", "mesh-gossip", "{missing}"], FILE),
    case("quorum-verify-directory", ["quorum", "verify", "--format", "mesh-gossip", "{dir}"], FILE),
    case("quorum-verify-empty", ["quorum", "verify", "--format", "mesh-gossip", "{empty}"]),
    case("quorum-verify-garbage", ["quorum", "verify", "--format", "mesh-beacon", "{garbage}"]),
    case("quorum-verify-format-unknown", ["quorum", "verify", "--format", "x0ctl", "{bad_json}"]),
    case("quorum-verify-pins-garbage", ["quorum", "verify", "--format", "mesh-gossip", "{bad_json}", "--keys",
                                        "{garbage}"]),
    case("quorum-verify-pins-list", ["quorum", "verify", "--format", "mesh-gossip", "{bad_json}", "--keys",
                                     "{yaml_list}"]),
    case("quorum-verify-max-age-negative", ["quorum", "verify", "--format", "mesh-gossip", "{bad_json}",
                                            "--max-age", "-5s"]),
    case("quorum-verify-at-garbage", ["quorum", "verify", "--format", "mesh-gossip", "{bad_json}", "--at", "soon"]),
    case("handshake-probe-mesh-port-zero", ["handshake", "probe", "--protocol", "mesh-agent-udp", "127.0.0.1:0"]),
    case("handshake-probe-mesh-peer-key-missing", ["handshake", "probe", "--protocol", "mesh-agent-udp",
                                                   f"127.0.0.1:{CLOSED}", "--peer-key", "{missing}"], FILE),
    case("handshake-probe-mesh-peer-key-garbage", ["handshake", "probe", "--protocol", "mesh-agent-udp",
                                                   f"127.0.0.1:{CLOSED}", "--peer-key", "{garbage}"]),
    case("handshake-probe-mesh-short-fingerprint", ["handshake", "probe", "--protocol", "mesh-agent-udp",
                                                    f"127.0.0.1:{CLOSED}", "--peer-fingerprint", "sha256:ab"]),
    case("handshake-probe-mesh-count-zero", ["handshake", "probe", "--protocol", "mesh-agent-udp",
                                             f"127.0.0.1:{CLOSED}", "--count", "0"]),
    case("handshake-probe-mesh-unreachable", ["handshake", "probe", "--protocol", "mesh-agent-udp",
                                              f"127.0.0.1:{CLOSED}", "--timeout", "0.3", "--insecure-any-peer"], IO),
    case("slo-lint-missing", ["slo", "lint", "{missing}", "-p", DEAD_URL], FILE),
    case("slo-lint-garbage", ["slo", "lint", "{garbage}", "-p", DEAD_URL]),
    case("slo-lint-bad-yaml", ["slo", "lint", "{bad_yaml}", "-p", DEAD_URL]),
    case("slo-lint-scalar", ["slo", "lint", "{yaml_scalar}", "-p", DEAD_URL]),
    case("slo-lint-lookback-zero", ["slo", "lint", "{bad_json}", "-p", DEAD_URL, "--lookback", "0s"]),
    case("slo-lint-no-files", ["slo", "lint", "-p", DEAD_URL]),
]


def _expand(value: str, paths: dict[str, str]) -> str:
    try:
        return value.format(**paths)
    except (KeyError, IndexError, ValueError):
        return value  # a literal brace in the bad input itself (a selector, PromQL)


@pytest.mark.parametrize(("args", "expect", "env", "as_subprocess"), CASES)
def test_bad_input_gets_one_line_error_and_documented_exit_code(cli, paths, isolated_env, args, expect, env,
                                                                as_subprocess):
    argv = [_expand(arg, paths) for arg in args]
    # None unsets a variable for the case (CliRunner only: subprocess cases must not use it).
    full_env = {**isolated_env, **{name: value and _expand(value, paths) for name, value in env.items()}}
    if as_subprocess:
        result = run_x0ctl(*argv, env=full_env, timeout=as_subprocess)
        code, stdout, stderr = result.returncode, result.stdout, result.stderr
    else:
        result = cli(*argv, env=full_env)
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    shown = f"x0ctl {' '.join(argv)}\nexit {code}\nstderr: {stderr!r}\nstdout: {stdout[-400:]!r}"
    assert "Traceback" not in stderr and "Traceback" not in stdout, shown
    assert code != INTERNAL_ERROR, shown
    assert code in expect, shown
    errors = [line for line in stderr.splitlines() if line.startswith("x0ctl: error: ")]
    assert len(errors) == 1, shown
    stray = [line for line in stderr.splitlines() if line.strip() and not line.startswith("x0ctl: ")]
    assert not stray, shown


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading a file")
@pytest.mark.parametrize("command", [["slo", "validate"], ["quorum", "simulate", "--scenario"],
                                     ["rollout", "plan", "--no-query", "-f"]], ids=" ".join)
def test_unreadable_file_is_an_io_error(cli, isolated_env, tmp_path, command):
    unreadable = tmp_path / "unreadable.yaml"
    unreadable.write_text("name: x\n")
    unreadable.chmod(0o000)
    result = cli(*command, str(unreadable), env=isolated_env)
    assert result.exit_code in FILE, (result.exit_code, result.stderr)
    assert [line for line in result.stderr.splitlines() if line.startswith("x0ctl: error: ")] != [], result.stderr


def test_rollout_list_skips_damaged_journals_with_a_warning(cli, paths, isolated_env):
    """One damaged journal must not hide the others: it is named in a warning, the rest are listed."""
    state = _expand("{state}", paths)
    result = cli("rollout", "list", "--state-dir", state, "-o", "json", env=isolated_env)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("x0ctl: warning: ")]
    assert warnings and all("damaged journal" in line for line in warnings), result.stderr
    assert {rollout_id for rollout_id in JOURNALS} <= {w.split("'")[1] for w in warnings}
