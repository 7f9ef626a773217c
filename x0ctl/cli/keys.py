"""`x0ctl keys`: the node key set's lifecycle: generate, rotate, revoke, verify, back up, restore.

The work is done by x0ctl.keystore (imported lazily in each command); this module only parses
options, reads passphrases from safe places and renders results.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.errors import CheckFailed, UsageError
from x0ctl.textfile import read_bytes, read_text

app = typer.Typer(help="""Node keys: generate, rotate, back up and restore (X-Wing and ML-DSA-65).

A node's key set is an X-Wing key-exchange key (ML-KEM-768 + X25519) and an ML-DSA-65 signing key (plus, optionally, the mesh agent's own ML-KEM-768 and ML-DSA-65 keys: purposes mesh-kem and mesh-sig), kept in a keystore (--keystore, X0CTL_KEYSTORE, default $XDG_DATA_HOME/x0ctl) with versions, states (pending, active, retired, revoked) and a signed, hash-chained history. Every write is atomic and locked; backups are age files. See docs/keys.md.

Examples:
  x0ctl keys generate --node node-1
  x0ctl keys rotate --if-older-than 30d --keep 3
  x0ctl keys verify
""", no_args_is_help=True, add_completion=False)

def _complete_key_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Key ids of the keystore the command line names (or the default one), for shell completion."""
    try:
        from x0ctl.keystore import Keystore

        store = Keystore(ctx.params.get("keystore"))
        ids = [record.id.removeprefix("sha256:")[:16] for record in store.records(store.read_state())]
    except Exception:  # noqa: BLE001 - completion must never print an error into the shell
        return []
    wanted = incomplete.lower().removeprefix("sha256:")
    return [key_id for key_id in ids if key_id.startswith(wanted)]


KeystoreOption = Annotated[
    Path | None,
    typer.Option("--keystore", envvar="X0CTL_KEYSTORE", show_default=False,
                 help="Keystore directory (default: $XDG_DATA_HOME/x0ctl, i.e. ~/.local/share/x0ctl)."),
]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Wait for a concurrent x0ctl to release the keystore lock instead of exiting 4."),
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure-permissions", help="Accept a keystore that group/others can access (not recommended)."),
]
ValidityOption = Annotated[
    str | None, typer.Option("--validity", metavar="DURATION", show_default=False,
                             help="Record a not-after time this long after activation (e.g. 90d); verify notes expired keys."),
]
PassphraseFileOption = Annotated[
    Path | None, typer.Option("--passphrase-file", show_default=False,
                              help="Read the passphrase from this file (first line; one trailing newline removed)."),
]
PassphraseEnvOption = Annotated[
    str | None, typer.Option("--passphrase-env", metavar="VAR", show_default=False,
                             help="Read the passphrase from this environment variable (give its name, not the value)."),
]


def _store(ctx: typer.Context, keystore: Path | None, *, wait: bool = False, insecure: bool = False):
    from x0ctl.keystore import Keystore

    return Keystore(keystore, backend=get_backend(get_app(ctx).backend), insecure_permissions=insecure, wait=wait)


def get_backend(name: str):
    from x0ctl.pqc import get_backend as pqc_backend

    return pqc_backend(name)


def _read_passphrase(passphrase_file: Path | None, passphrase_env: str | None) -> bytes | None:
    """The passphrase from a file, an environment variable or a tty prompt; never from argv."""
    if passphrase_file and passphrase_env:
        raise UsageError("give either --passphrase-file or --passphrase-env, not both")
    if passphrase_file:
        value = read_bytes(passphrase_file, "passphrase file").split(b"\n", 1)[0].removesuffix(b"\r")
    elif passphrase_env:
        if passphrase_env not in os.environ:
            raise UsageError(f"environment variable {passphrase_env} is not set")
        value = os.environ[passphrase_env].encode()
    else:
        return None
    if not value:
        raise UsageError("the passphrase is empty")
    return value


def _prompt_passphrase(confirm: bool) -> bytes:
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no passphrase: give --passphrase-file FILE or --passphrase-env VAR (prompting needs a terminal)")
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise UsageError("the passphrases do not match")
    if not first:
        raise UsageError("the passphrase is empty")
    return first.encode()


def _safe(text) -> str:
    """Untrusted keystore text for a terminal: control characters escaped, rich markup inert."""
    from rich.markup import escape

    value = str(text)
    if not value.isprintable():
        value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return escape(value)


def _short_or_dash(key_id) -> str:
    from x0ctl.pqc.fingerprint import short_id

    return _safe(short_id(key_id)) if isinstance(key_id, str) else "-"


MetricsFileOption = Annotated[
    Path | None, typer.Option("--metrics-file", show_default=False,
                              help="Prometheus textfile to update: key_rotation_success_total / key_rotation_failure_total{reason} "
                                   "(rotate) and the active keys' creation and not-after times per purpose (gauges).")]


@app.command("generate")
def generate_cmd(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Option("--node", help="Node id recorded in the keystore (default: hostname).",
                                             show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing active set (old keys are retired, kept).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Reason recorded in the history.", show_default=False)] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", metavar="kem|sig|mesh-kem|mesh-sig", show_default=False,
                                                help="Only this purpose's key: how an existing keystore gains the mesh "
                                                     "agent's keys (mesh-kem: ML-KEM-768, mesh-sig: ML-DSA-65).")] = None,
    validity: ValidityOption = None,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Generate the node key set: an X-Wing (ML-KEM-768 + X25519) key and an ML-DSA-65 signing key.

    Creates the keystore (directory 0700, files 0600) if needed. An existing keystore must pass `keys verify` first (else exit 1). Refuses to replace an existing active set unless --force, which retires the old keys instead of deleting them. With --purpose, generates only that purpose's key (plus the kem and sig keys a new keystore needs); the mesh purposes are optional and separate from x0ctl's own keys, see docs/keys.md 'Keys for the mesh'. Exit 2 if the key or set exists, 4 if the keystore is locked.

    Examples:
      x0ctl keys generate --node node-17
      x0ctl keys generate --purpose mesh-kem
      x0ctl keys generate --keystore /var/lib/x0ctl/keys -o json
    """
    from x0ctl.keystore import generate, parse_validity

    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, wait=wait, insecure=insecure_permissions)
    result = generate(store, node=node, force=force, reason=reason, purpose=purpose,
                      validity=parse_validity(validity) if validity else None)

    def table(console) -> None:
        console.print(f"Keystore {_safe(result.keystore)} (node {_safe(result.node)}, epoch {result.epoch})")
        for key in result.created:
            console.print(f"  {key['purpose']}  {key['algorithm']:<10} v{key['version']}  {key['short_id']}  {key['state']}")
    app_.emit(result.to_dict(), table)


@app.command("rotate")
def rotate_cmd(
    ctx: typer.Context,
    purpose: Annotated[str, typer.Option("--purpose", help="Which key to rotate (all: kem, sig and the mesh purposes the keystore has).",
                                         metavar="kem|sig|mesh-kem|mesh-sig|all")] = "all",
    if_older_than: Annotated[str | None, typer.Option("--if-older-than", metavar="DURATION", show_default=False,
                                                      help="Only rotate keys active for at least this long (30d, 12h); otherwise exit 0 and say so.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", metavar="prepare|activate", show_default=False,
                                              help="Do one stage only: prepare a pending key, or activate the prepared one.")] = None,
    keep: Annotated[int | None, typer.Option("--keep", metavar="N", show_default=False,
                                             help="Keep private keys of the N newest retired versions; prune older ones (public keys stay).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Reason recorded in the history.", show_default=False)] = None,
    metrics_file: MetricsFileOption = None,
    validity: ValidityOption = None,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Rotate node keys: prepare a new key, activate it, retire the old one (kept for recovery).

    Meant for cron: with --if-older-than a young key is left alone (exit 0, reported as skipped). A staged rotation runs --stage prepare (publish the pending key to peers) and later --stage activate. Every rotation is atomic: a crash leaves the old or the new key set. The keystore must pass `keys verify` first (else exit 1, nothing changed). Exit 4 if another x0ctl holds the keystore lock (use --wait).

    Examples:
      x0ctl keys rotate --if-older-than 30d --keep 3 --metrics-file /var/lib/node_exporter/x0ctl_keys.prom
      x0ctl keys rotate --purpose kem --stage prepare
      x0ctl keys rotate --purpose sig --dry-run -o json
    """
    from x0ctl.durations import parse_duration
    from x0ctl.keystore import parse_validity, rotate

    app_ = get_app(ctx, output)
    older_than = parse_duration(if_older_than, "--if-older-than") if if_older_than is not None else None
    result = rotate(_store(ctx, keystore, wait=wait, insecure=insecure_permissions), purpose=purpose, stage=stage,
                    older_than=older_than, keep=keep, dry_run=dry_run, reason=reason,
                    validity=parse_validity(validity) if validity else None, metrics_file=metrics_file)

    def table(console) -> None:
        prefix = "would rotate" if dry_run else "rotated"
        for item in result.rotated:
            new = item["new"]["short_id"] if item.get("new") else "(new key)"
            console.print(f"{prefix} {item['purpose']}: {item['old']['short_id'] if item['old'] else '-'} -> {new}")
        for item in result.prepared:
            console.print(f"{'would prepare' if dry_run else 'prepared'} {item['purpose']}: {item.get('short_id', '(new key)')} (pending)")
        for item in result.skipped:
            console.print(f"skipped {item['purpose']}: {item['reason']}")
        for item in result.pruned:
            console.print(f"pruned private key of {item['purpose']} v{item['version']} {item['short_id']}")
        if not (result.rotated or result.prepared):
            console.print("nothing rotated: " + ("rotation not due" if result.skipped else "no change"))
    app_.emit(result.to_dict(), table)


@app.command("revoke")
def revoke_cmd(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id or a unique prefix of its hex digits.",
                                                autocompletion=_complete_key_ids)],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the history). Required.")] = "",
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Revoke a key after a compromise; a revoked active key is replaced by a new active key at once.

    The revoked key stays in the keystore, marked revoked, for forensics; it is never used again, and no restore through x0ctl makes it usable again.

    Examples:
      x0ctl keys revoke 3f9a1c2b --reason "disk image leaked"
    """
    from x0ctl.keystore import revoke

    app_ = get_app(ctx, output)
    result = revoke(_store(ctx, keystore, wait=wait, insecure=insecure_permissions), key_id, reason=reason)

    def table(console) -> None:
        console.print(f"revoked {result.revoked['purpose']} key {result.revoked['short_id']}")
        if result.replacement:
            console.print(f"new active {result.replacement['purpose']} key {result.replacement['short_id']}")
    app_.emit(result.to_dict(), table)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """List every key in the keystore with its purpose, version, state and dates.

    Retired keys stay listed (and usable for recovery) until pruned with `keys rotate --keep`; revoked keys are marked. Key ids are SHA-256 fingerprints of the public key; any unique prefix works on the command line. "mesh id" is the id the mesh's logs and files use (first 8 bytes of SHA-256 of the raw public key): for matching, never for pinning.

    Examples:
      x0ctl keys list
      x0ctl keys list -o json | jq '.keys[] | select(.state == "active") | .id'
    """
    from x0ctl.keystore import list_keys

    app_ = get_app(ctx, output)
    result = list_keys(_store(ctx, keystore, insecure=insecure_permissions))

    def table(console) -> None:
        grid = console.table("id", "mesh id", "purpose", "algorithm", "version", "state", "created", "activated",
                             "retired", title=f"Keys of {_safe(result.node)} (epoch {result.epoch})")
        for r in result.keys:
            state_text = r.state + (" (pruned)" if r.pruned else "") + (" (expanded only)" if r.private_form == "expanded" else "")
            grid.add_row(r.short, result.mesh_key_ids.get(r.id) or "-", r.purpose, r.algorithm, str(r.version), state_text,
                         r.created, r.activated or "-", r.retired or r.revoked or "-")
        console.print(grid)
    data = result.to_dict()
    app_.emit(data, table, ids=[key["id"] for key in data["keys"]])


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id or a unique prefix of its hex digits.",
                                                autocompletion=_complete_key_ids)],
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Show one key's metadata (never its private part).

    ID is the key's fingerprint (sha256:...) or any unique prefix of its hex, as `keys list` shows it.

    Examples:
      x0ctl keys show 3f9a1c2b
      x0ctl keys show sha256:3f9a1c2b -o json
    """
    from x0ctl.keystore import show_key_details

    app_ = get_app(ctx, output)
    result = show_key_details(_store(ctx, keystore, insecure=insecure_permissions), key_id)

    def table(console) -> None:
        for name, value in result.items():
            console.print(f"{name:<12} {_safe(value) if value is not None else '-'}")
    app_.emit(result, table)


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the last N entries.", show_default=False)] = None,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Show the lifecycle history (who, when, what, old id, new id, reason). `keys verify` checks its chain and signatures.

    Examples:
      x0ctl keys history -n 10
      x0ctl keys history -o json
    """
    from x0ctl.keystore import read_history

    app_ = get_app(ctx, output)
    result = read_history(_store(ctx, keystore, insecure=insecure_permissions), limit)

    def table(console) -> None:
        grid = console.table("seq", "time", "event", "purpose", "old", "new", "actor", "reason", title="Key history")
        for e in result.entries:
            grid.add_row(_safe(e.get("seq")), _safe(e.get("time")), _safe(e.get("event")), _safe(e.get("purpose") or "-"),
                         _short_or_dash(e.get("old_id")), _short_or_dash(e.get("new_id")), _safe(e.get("actor") or "-"),
                         _safe(e.get("reason") or ""))
        console.print(grid)
    app_.emit(result.to_dict(), table)


@app.command("export-public")
def export_public_cmd(
    ctx: typer.Context,
    key_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="A key id/prefix (default: the active keys).", autocompletion=_complete_key_ids,
                                                 show_default=False)] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", metavar="kem|sig", show_default=False,
                                                help="Only the active key of this purpose.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="pem|raw|json",
                                     help="pem: SubjectPublicKeyInfo; raw: the bare key bytes (one key); json: both plus metadata.")] = "pem",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.", show_default=False)] = None,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Export public keys for peers: PEM (SubjectPublicKeyInfo), raw bytes or JSON.

    Only public material is ever exported. By default the active key of each purpose; peers pin the ML-DSA-65 key (for example `handshake probe --peer-key`).

    Examples:
      x0ctl keys export-public > node-17.pub.pem
      x0ctl keys export-public --purpose kem --format raw --out kem.bin
      x0ctl keys export-public --format json
    """
    from x0ctl.keystore import export_public

    app_ = get_app(ctx, output)
    fmt = "json" if app_.json and fmt == "pem" else fmt
    result = export_public(_store(ctx, keystore, insecure=insecure_permissions), key_id, purpose=purpose, fmt=fmt)
    if out is not None:
        from x0ctl.fsutil import atomic_write

        atomic_write(out, result.data, mode=0o644)
        app_.info(f"wrote {len(result.keys)} public key(s) to {out}")
    else:
        sys.stdout.buffer.write(result.data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(result.data.decode("latin-1"))
        sys.stdout.flush()


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="mesh-secret",
                                     help="mesh-secret: the mesh agent's `mesh-pqc-keys` Kubernetes Secret.")] = "mesh-secret",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (0600, atomic); without it stdout, "
                                                           "which must not be a terminal.", show_default=False)] = None,
    name: Annotated[str, typer.Option("--name", help="The Secret's name.")] = "mesh-pqc-keys",
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The Secret's namespace.")] = "x0tta6bl4-mesh",
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Export the mesh agent's keys WITH their private parts, in a format the mesh reads.

    mesh-secret: a Secret with ml-kem-{current,previous}-{public,private} (mesh-kem keys) and ml-dsa-{current,previous}-{public,private} (mesh-sig keys), raw FIPS bytes, private keys in the expanded form the mesh uses (ML-KEM-768 dk 2400 B, ML-DSA-65 sk 4032 B). "previous" is the newest retired key that still has its private key; without one those entries are left out. A key x0ctl generated is expanded by the backend: the openssl backend cannot (exit 3; use --backend liboqs); keys imported from the mesh are written back as they came. Private keys never go to a terminal: give --out or pipe into kubeseal. The keystore must pass `keys verify` (else exit 1).

    Examples:
      x0ctl keys export --format mesh-secret --out mesh-pqc-keys.yaml
      x0ctl --backend liboqs keys export | kubeseal --format yaml > sealed-mesh-pqc-keys.yaml
    """
    from x0ctl.keystore import export_private

    app_ = get_app(ctx, output)
    if out is None and app_.json:
        raise UsageError("-o json prints the summary on stdout: give --out FILE for the Secret")
    if out is None and sys.stdout.isatty():
        raise UsageError("refusing to print private keys to a terminal",
                         hint="give --out FILE, or pipe the output (e.g. into kubeseal)")
    result = export_private(_store(ctx, keystore, insecure=insecure_permissions), fmt=fmt, name=name, namespace=namespace)
    if out is not None:
        from x0ctl.fsutil import atomic_write

        atomic_write(out, result.data, mode=0o600)
        result.out = str(out)
    else:
        sys.stdout.buffer.write(result.data)
        sys.stdout.flush()

    def table(console) -> None:
        for slot in result.slots:
            console.print(f"{slot.purpose} {slot.slot:<8} {slot.key['short_id']}  mesh id {slot.mesh_key_id}  "
                          f"({slot.private_form} -> {slot.private_bytes} B expanded)")
        for missing in result.missing:
            console.print(f"left out {missing} (no retired key with its private key)")
        console.print(f"wrote Secret {result.namespace}/{result.name} to {_safe(out)} (mode 0600)")
    if out is not None:
        app_.emit(result.to_dict(), table)
    else:
        app_.info(f"wrote Secret {result.namespace}/{result.name} ({len(result.slots)} keys) to stdout")


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="mesh-json: the mesh's key files; mesh-secret: one Secret.")],
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="mesh-json|mesh-secret",
                                     help="mesh-json: {kem,signature}_ID_TIME.json files of the mesh's Python side; "
                                          "mesh-secret: a mesh-pqc-keys Secret (YAML or JSON).")] = ...,
    master_key: Annotated[Path | None, typer.Option("--mesh-master-key", show_default=False,
                                                    help="The mesh's master.key (mesh-json files with encrypted private keys).")] = None,
    node_id: Annotated[str | None, typer.Option("--mesh-node-id", show_default=False,
                                                help="The mesh node id that wraps its master key.")] = None,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Import the mesh's own keys into the keystore's mesh purposes (mesh-kem, mesh-sig).

    Per purpose the current key (mesh-json: the newest created_at; mesh-secret: *-current-*) becomes active and the active key is retired, as a rotation does; older keys are added retired. Each import is a signed history entry. The mesh keeps only expanded private keys, so imported keys have no seed: x0ctl checks them against their public keys and keeps them for `keys export` only. Input files must be mode 0600 (exit 2 otherwise). Exit 2 on a malformed or mismatched key (nothing is imported), 4 without a keystore.

    Examples:
      x0ctl keys import --format mesh-json --mesh-master-key master.key --mesh-node-id node-7 backups/*.json
      kubectl get secret mesh-pqc-keys -n x0tta6bl4-mesh -o yaml > s.yaml; chmod 600 s.yaml; x0ctl keys import --format mesh-secret s.yaml
    """
    from x0ctl.keystore import import_mesh_keys
    from x0ctl.textfile import read_private_bytes

    app_ = get_app(ctx, output)
    master = read_private_bytes(master_key, "mesh master key") if master_key is not None else None
    result = import_mesh_keys(_store(ctx, keystore, wait=wait, insecure=insecure_permissions), fmt, files,
                              master_key=master, node_id=node_id)

    def table(console) -> None:
        for key in result.imported:
            console.print(f"imported {key['purpose']} v{key['version']} {key['short_id']} (mesh id {key['mesh_key_id']}) "
                          f"{key['state']}, expanded only")
        for key in result.skipped:
            console.print(f"skipped {key['purpose']} mesh id {key['mesh_key_id']}: {key['reason']}")
    app_.emit(result.to_dict(), table)


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", metavar="FILE", show_default=False,
        help="A statement from `keys checkpoint` kept outside this node; fail if the keystore is older than it or "
             "diverges from it. Repeatable.")] = None,
    metrics_file: MetricsFileOption = None,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Check the whole keystore against its signed history, and against checkpoints kept elsewhere.

    Checks permissions, key files inside keys/, each private key against its public key and id, one active key per purpose, the history chain and signatures, and state.json against the replayed history (every key it introduced still there, or pruned/revoked by a signed entry). Exit 1 with the list of problems; exit 4 when there is no keystore. Leftovers of an interrupted operation are notes (the next change removes them); staging copies left by an interrupted restore are removed (they hold private keys) and said so in a note. Alone, verify cannot tell a whole keystore rolled back to an older copy of itself: keep `keys checkpoint` statements elsewhere and pass them with --checkpoint.

    Examples:
      x0ctl keys verify
      x0ctl keys verify --checkpoint /srv/cmdb/node-17.checkpoint
      x0ctl keys verify --keystore /mnt/restore-test -o json
    """
    from x0ctl.keystore import verify_keystore

    app_ = get_app(ctx, output)
    report = verify_keystore(_store(ctx, keystore, insecure=insecure_permissions), checkpoints=checkpoint or [],
                             metrics_file=metrics_file)

    def table(console) -> None:
        for problem in report.problems:
            console.print(f"[red]PROBLEM[/red] {_safe(problem)}")
        for note in report.notes:
            console.print(f"note: {_safe(note)}")
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        extra = f", {len(report.checkpoints)} checkpoint(s)" if report.checkpoints else ""
        console.print(f"{verdict}: {report.keys_checked} keys, {report.history_entries} history entries{extra} in {_safe(report.path)}")
    app_.emit(report.to_dict(), table)
    if not report.ok:
        raise CheckFailed(f"keystore verification failed: {len(report.problems)} problem(s); first: {report.problems[0]}")


@app.command("checkpoint")
def checkpoint_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write the statement to this file (else stdout).",
                                             show_default=False)] = None,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Sign a checkpoint: node, epoch, history head hash and time, by the active signing key.

    Keep it outside the node (a peer, a git repository, the CMDB); `keys verify --checkpoint FILE` then detects a keystore rolled back to before it, or replaced by another (even complete and self-consistent) keystore. The statement holds no secret. The keystore must pass `keys verify` first.

    Examples:
      x0ctl keys checkpoint --out /srv/cmdb/$(hostname).checkpoint
      x0ctl keys checkpoint | ssh peer 'cat > node-17.checkpoint'
    """
    import json

    from x0ctl.keystore import make_checkpoint

    app_ = get_app(ctx, output)
    result = make_checkpoint(_store(ctx, keystore, insecure=insecure_permissions))
    if out is not None:
        from x0ctl.fsutil import atomic_write

        atomic_write(out, (json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n").encode(), mode=0o644)
        app_.info(f"wrote checkpoint of epoch {result.epoch} (history entry {result.count}) to {out}")
        if app_.json:
            app_.emit(result.to_dict())
    else:
        app_.emit(result.to_dict(), lambda console: console.print_json(json.dumps(result.to_dict(), sort_keys=True)))


@app.command("backup-identity")
def backup_identity_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Where to write the identity (mode 0600). Keep it offline.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    keystore: KeystoreOption = None,
    output: OutputOption = None,
) -> None:
    """Create a post-quantum age recovery identity (AGE-SECRET-KEY-PQ-1...) and print its recipient (age1pq1...).

    Store the identity file offline; give the recipient to `keys backup --recipient`. The file is in age's own format, so `age -d -i FILE` (age >= 1.3) reads backups too. With a keystore at --keystore, also prints the node's signer fingerprint and writes it into the file as a comment: keep it with the identity, a restore onto an empty disk needs it (`keys restore --expect-signer`).

    Examples:
      x0ctl keys backup-identity --out /media/usb/x0ctl-recovery.txt
    """
    from x0ctl.keystore import Keystore, backup_identity

    app_ = get_app(ctx, output)
    result = backup_identity(out, force=force, store=Keystore(keystore, backend=get_backend(app_.backend)))
    for note in result.notes:
        app_.warn(note)

    def table(console) -> None:
        console.print(result.recipient, soft_wrap=True)
        if result.node_signer:
            console.print(f"node signer (keep with the identity; restore --expect-signer): {result.node_signer}",
                          soft_wrap=True)
    app_.emit(result.to_dict(), table)


@app.command("backup")
def backup_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The age file to write (mode 0600).")],
    recipient: Annotated[list[str] | None, typer.Option("--recipient", "-r", metavar="age1pq1...", show_default=False,
                                                        help="Post-quantum age recipient; repeatable.")] = None,
    recipients_file: Annotated[Path | None, typer.Option("--recipients-file", "-R", show_default=False,
                                                         help="File with one age1pq1... recipient per line.")] = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_env: PassphraseEnvOption = None,
    passphrase: Annotated[bool, typer.Option("--passphrase", "-p", help="Encrypt to a passphrase typed at the terminal.")] = False,
    scrypt_work_factor: Annotated[int, typer.Option("--scrypt-work-factor", metavar="N",
                                                    help="log2 of the scrypt cost for passphrases (10..22; age uses 18).")] = 18,
    exclude_revoked: Annotated[bool, typer.Option(
        "--exclude-revoked", help="Leave revoked keys' private files out (their records and public keys stay).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Back up the whole keystore (all versions, history, metadata) as an age v1 file.

    Encrypted to post-quantum recipients (age1pq1..., from `keys backup-identity`) or to a passphrase (age scrypt; by the age spec a passphrase must be the only recipient). The standard `age` tool decrypts it: `age -d` with the passphrase (any age version), `age -d -i identity.txt` for post-quantum recipients (needs age >= 1.3; older age cannot read them). The keystore must pass `keys verify` first. Prints the node's signer fingerprint: a restore onto an empty disk needs it (--expect-signer).

    Examples:
      x0ctl keys backup --out /media/usb/node-17.age -r age1pq1...
      x0ctl keys backup --out node-17.age --passphrase-file /run/secrets/backup-pass --exclude-revoked
    """
    from x0ctl.keystore import age, backup

    app_ = get_app(ctx, output)
    texts = list(recipient or [])
    if recipients_file:
        texts += [line.strip() for line in read_text(recipients_file, "recipients file").splitlines()
                  if line.strip() and not line.strip().startswith("#")]
    recipients = [age.HybridRecipient.parse(text) for text in texts]
    secret = _read_passphrase(passphrase_file, passphrase_env)
    if secret is None and (passphrase or not recipients):
        secret = _prompt_passphrase(confirm=True)
    if secret is not None:
        recipients.append(age.ScryptRecipient(secret, scrypt_work_factor))
    result = backup(_store(ctx, keystore, insecure=insecure_permissions), out, recipients, force=force,
                    exclude_revoked=exclude_revoked)

    def table(console) -> None:
        console.print(f"wrote {_safe(result.backup)} ({result.bytes} bytes) for {len(result.recipients)} recipient(s)")
        if result.signer:
            console.print(f"node signer (restore --expect-signer): {result.signer}", soft_wrap=True)
    app_.emit(result.to_dict(), table)


@app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    backup: Annotated[Path, typer.Argument(metavar="FILE", help="An age file made by `keys backup` (or by age from one).")],
    identity: Annotated[list[Path] | None, typer.Option("--identity", "-i", show_default=False,
                                                        help="age identity file (AGE-SECRET-KEY-PQ-1..., mode 0600); repeatable.")] = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_env: PassphraseEnvOption = None,
    force: Annotated[bool, typer.Option("--force", help="Move an existing keystore aside (kept; path printed) and restore. "
                                                        "Skips no check.")] = False,
    expect_signer: Annotated[str | None, typer.Option(
        "--expect-signer", metavar="FINGERPRINT", show_default=False,
        help="The node's first signing key id (>= 32 hex digits; printed by `keys backup` and `keys backup-identity`): "
             "refuse a backup started by any other key.")] = None,
    trust_backup_signer: Annotated[bool, typer.Option(
        "--trust-backup-signer", help="Into an empty keystore without --expect-signer: accept whoever signed the backup "
                                      "(printed, and recorded in the history).")] = False,
    allow_other_node: Annotated[bool, typer.Option(
        "--allow-other-node", help="Allow replacing a keystore with one whose history another node's key started.")] = False,
    allow_rollback: Annotated[bool, typer.Option(
        "--allow-rollback", help="With --force: allow a backup older than the keystore it replaces (lowering the epoch); "
                                 "keys revoked since are revoked again.")] = False,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Restore a keystore from an age backup, after checking everything `keys verify` checks on it.

    The target changes atomically and only after the backup decrypted and verified; otherwise (wrong passphrase or identity, truncated, tampered or non-age file) exit 1 and the target is untouched. An existing keystore is replaced only with --force, and is moved aside, never deleted. A backup older than the keystore it replaces (one that would un-revoke a key or lower the epoch; decided from every signed source still readable, even when state.json is damaged) also needs --allow-rollback, and revokes are then re-applied. Origin: a backup replacing a keystore must come from the same node (the same first signing key; else --allow-other-node); into an empty keystore, pin the node with --expect-signer (or accept the backup's signer with --trust-backup-signer), since anyone holding the public age recipient can encrypt a keystore of their own. The restore is recorded in the signed history.

    Examples:
      x0ctl keys restore /media/usb/node-17.age -i /media/usb/x0ctl-recovery.txt --expect-signer sha256:3f9a...
      x0ctl keys restore node-17.age --passphrase-file pass.txt --keystore /var/lib/x0ctl/keys --force
    """
    import hashlib

    from x0ctl.keystore import age, backup_kind, default_path, restore
    from x0ctl.textfile import read_private_bytes

    app_ = get_app(ctx, output)
    data = read_bytes(backup, "backup")
    kind = backup_kind(data)
    if kind == "passphrase" and identity and not (passphrase_file or passphrase_env):
        raise UsageError(f"{backup} is encrypted to a passphrase, not to an age identity",
                         hint="give --passphrase-file FILE or --passphrase-env VAR instead of --identity")
    if kind == "recipients" and not identity:
        raise UsageError(f"{backup} is encrypted to age recipients (age1pq1...), not to a passphrase",
                         hint="give --identity FILE (the recovery identity from `keys backup-identity`)")
    identities = []
    for path in identity or []:
        try:
            identities += age.read_identity_file(read_private_bytes(path, "identity file").decode())
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not an age identity file (not text)") from None
    secret = _read_passphrase(passphrase_file, passphrase_env)
    if secret is None and not identities:
        secret = _prompt_passphrase(confirm=False)
    if secret is not None:
        identities.append(age.ScryptIdentity(secret))
    payload = age.decrypt(data, identities)
    result = restore(payload, keystore.expanduser() if keystore else default_path(), backend=get_backend(app_.backend),
                     force=force, wait=wait, allow_rollback=allow_rollback, expect_signer=expect_signer,
                     trust_backup_signer=trust_backup_signer, allow_other_node=allow_other_node,
                     insecure_permissions=insecure_permissions, backup_sha256=hashlib.sha256(data).hexdigest())

    def table(console) -> None:
        console.print(f"restored {result.keys} keys and {result.history_entries} history entries into {_safe(result.keystore)}")
        console.print(f"backup signer: {result.signer}", soft_wrap=True)
        for short in result.reapplied_revokes:
            console.print(f"re-applied the revoke of key {short} (revoked after this backup was taken)")
        if result.replaced:
            console.print(f"the previous keystore was moved to {_safe(result.replaced)}")
        for problem in result.replaced_problems:
            console.print(f"the previous keystore failed verification: {_safe(problem)}")
        for note in result.notes:
            console.print(f"note: {_safe(note)}")
    app_.emit(result.to_dict(), table)
