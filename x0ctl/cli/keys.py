"""`x0ctl keys`: the node key set's lifecycle: generate, rotate, revoke, verify, back up, restore.

The work is done by x0ctl.keystore (imported lazily in each command); this module only parses
options, reads passphrases from safe places and renders results.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer

from x0ctl.cli.app import OutputOption, get_app
from x0ctl.errors import CheckFailed, ExitCode, IOFailure, UsageError, X0ctlError
from x0ctl.textfile import read_bytes, read_text

app = typer.Typer(help="""Node keys: generate, rotate, back up and restore (X-Wing and ML-DSA-65).

A node's key set is an X-Wing key-exchange key (ML-KEM-768 + X25519) and an ML-DSA-65 signing key, kept in a keystore (--keystore, X0CTL_KEYSTORE, default $XDG_DATA_HOME/x0ctl) with versions, states (pending, active, retired, revoked) and a signed, hash-chained history. Every write is atomic and locked; backups are age files. See docs/keys.md.

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
    from x0ctl.pqc import get_backend

    backend = get_backend(get_app(ctx).backend)
    return Keystore(keystore, backend=backend, insecure_permissions=insecure, wait=wait)


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


def _short(key_id: str | None) -> str:
    return key_id.removeprefix("sha256:")[:16] if key_id else "-"


def _key_dict(record) -> dict:
    data = record.to_dict()
    data["short_id"] = record.short
    return data


# ---------------------------------------------------------------------- generate


@app.command("generate")
def generate_cmd(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Option("--node", help="Node id recorded in the keystore (default: hostname).",
                                             show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing active set (old keys are retired, kept).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Reason recorded in the history.", show_default=False)] = None,
    validity: ValidityOption = None,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Generate the node key set: an X-Wing (ML-KEM-768 + X25519) key and an ML-DSA-65 signing key.

    Creates the keystore (directory 0700, files 0600) if needed. Refuses to replace an existing active set unless --force, which retires the old keys instead of deleting them. Exit 2 if a set exists, 4 if the keystore is locked.

    Examples:
      x0ctl keys generate --node node-17
      x0ctl keys generate --keystore /var/lib/x0ctl/keys -o json
    """
    from x0ctl.keystore import generate, parse_validity

    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, wait=wait, insecure=insecure_permissions)
    result = generate(store, node=node, force=force, reason=reason,
                      validity=parse_validity(validity) if validity else None)

    def table(console) -> None:
        console.print(f"Keystore {result['keystore']} (node {result['node']}, epoch {result['epoch']})")
        for key in result["created"]:
            console.print(f"  {key['purpose']}  {key['algorithm']:<10} v{key['version']}  {key['short_id']}  {key['state']}")
    app_.emit(result, table)


# ---------------------------------------------------------------------- rotate


@app.command("rotate")
def rotate_cmd(
    ctx: typer.Context,
    purpose: Annotated[str, typer.Option("--purpose", help="Which key to rotate.", metavar="kem|sig|all")] = "all",
    if_older_than: Annotated[str | None, typer.Option("--if-older-than", metavar="DURATION", show_default=False,
                                                      help="Only rotate keys active for at least this long (30d, 12h); otherwise exit 0 and say so.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", metavar="prepare|activate", show_default=False,
                                              help="Do one stage only: prepare a pending key, or activate the prepared one.")] = None,
    keep: Annotated[int | None, typer.Option("--keep", metavar="N", show_default=False,
                                             help="Keep private keys of the N newest retired versions; prune older ones (public keys stay).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Reason recorded in the history.", show_default=False)] = None,
    metrics_file: Annotated[Path | None, typer.Option("--metrics-file", show_default=False,
                                                      help="Update key_rotation_success_total / key_rotation_failure_total{reason} in this Prometheus textfile.")] = None,
    validity: ValidityOption = None,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Rotate node keys: prepare a new key, activate it, retire the old one (kept for recovery).

    Meant for cron: with --if-older-than a young key is left alone (exit 0, reported as skipped). A staged rotation runs --stage prepare (publish the pending key to peers) and later --stage activate. Every rotation is atomic: a crash leaves the old or the new key set. Exit 4 if another x0ctl holds the keystore lock (use --wait).

    Examples:
      x0ctl keys rotate --if-older-than 30d --keep 3 --metrics-file /var/lib/node_exporter/x0ctl_keys.prom
      x0ctl keys rotate --purpose kem --stage prepare
      x0ctl keys rotate --purpose sig --dry-run -o json
    """
    from x0ctl.durations import parse_duration
    from x0ctl.keystore import parse_validity, rotate

    app_ = get_app(ctx, output)
    older_than = parse_duration(if_older_than, "--if-older-than") if if_older_than is not None else None
    if purpose not in ("kem", "sig", "all"):
        raise UsageError(f"unknown purpose {purpose!r}; use kem, sig or all")
    try:
        store = _store(ctx, keystore, wait=wait, insecure=insecure_permissions)
        result = rotate(store, purpose=purpose, stage=stage, older_than=older_than, keep=keep, dry_run=dry_run,
                        reason=reason, validity=parse_validity(validity) if validity else None)
    except X0ctlError as exc:
        if metrics_file is not None and not dry_run:
            _record_failure(metrics_file, exc)
        raise
    except Exception:
        if metrics_file is not None and not dry_run:
            from x0ctl.keystore.metrics import record_rotation

            record_rotation(metrics_file, failure_reason="internal")
        raise
    if metrics_file is not None and not dry_run:
        from x0ctl.keystore.metrics import record_rotation

        result["metrics"] = record_rotation(metrics_file, successes=len(result["rotated"]))

    def table(console) -> None:
        prefix = "would rotate" if dry_run else "rotated"
        for item in result["rotated"]:
            new = item["new"]["short_id"] if item.get("new") else "(new key)"
            console.print(f"{prefix} {item['purpose']}: {_short(item['old']['id']) if item['old'] else '-'} -> {new}")
        for item in result["prepared"]:
            console.print(f"{'would prepare' if dry_run else 'prepared'} {item['purpose']}: {item.get('short_id', '(new key)')} (pending)")
        for item in result["skipped"]:
            console.print(f"skipped {item['purpose']}: {item['reason']}")
        for item in result["pruned"]:
            console.print(f"pruned private key of {item['purpose']} v{item['version']} {item['short_id']}")
        if not (result["rotated"] or result["prepared"]):
            console.print("nothing rotated: " + ("rotation not due" if result["skipped"] else "no change"))
    app_.emit(result, table)


def _record_failure(metrics_file: Path, exc: X0ctlError) -> None:
    from x0ctl.keystore.metrics import record_rotation

    if isinstance(exc, IOFailure) and "keystore locked" in exc.message:
        reason = "locked"
    else:
        reason = {ExitCode.CHECK_FAILED: "invalid_keystore", ExitCode.USAGE: "usage", ExitCode.IO: "io",
                  ExitCode.ENVIRONMENT: "environment"}.get(exc.exit_code, "internal")
    try:
        record_rotation(metrics_file, failure_reason=reason)
    except X0ctlError:
        pass  # the rotation error is the one to report


# ---------------------------------------------------------------------- revoke


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

    The revoked key stays in the keystore, marked revoked, for forensics; it is never used again.

    Examples:
      x0ctl keys revoke 3f9a1c2b --reason "disk image leaked"
    """
    from x0ctl.keystore import revoke

    app_ = get_app(ctx, output)
    result = revoke(_store(ctx, keystore, wait=wait, insecure=insecure_permissions), key_id, reason=reason)

    def table(console) -> None:
        console.print(f"revoked {result['revoked']['purpose']} key {result['revoked']['short_id']}")
        if result["replacement"]:
            console.print(f"new active {result['replacement']['purpose']} key {result['replacement']['short_id']}")
    app_.emit(result, table)


# ---------------------------------------------------------------------- list / show / history


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """List every key in the keystore with its purpose, version, state and dates.

    Retired keys stay listed (and usable for recovery) until pruned with `keys rotate --keep`; revoked keys are marked. Key ids are SHA-256 fingerprints of the public key; any unique prefix works on the command line.

    Examples:
      x0ctl keys list
      x0ctl keys list -o json | jq '.keys[] | select(.state == "active") | .id'
    """
    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, insecure=insecure_permissions)
    with store.reading() as (state, _lines):
        records = store.records(state)
    result = {"keystore": str(store.path), "node": state.get("node"), "epoch": state.get("epoch"),
              "keys": [_key_dict(r) for r in records]}

    def table(console) -> None:
        from rich.table import Table

        grid = Table(title=f"Keys of {result['node']} (epoch {result['epoch']})", title_justify="left")
        for column in ("id", "purpose", "algorithm", "version", "state", "created", "activated", "retired"):
            grid.add_column(column)
        for r in records:
            state_text = r.state + (" (pruned)" if r.pruned else "")
            grid.add_row(r.short, r.purpose, r.algorithm, str(r.version), state_text, r.created, r.activated or "-",
                         r.retired or r.revoked or "-")
        console.print(grid)
    app_.emit(result, table, ids=[key["id"] for key in result["keys"]])


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
    from x0ctl.keystore import resolve

    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, insecure=insecure_permissions)
    with store.reading() as (state, _lines):
        record = resolve(store.records(state), key_id)
    result = _key_dict(record)

    def table(console) -> None:
        for name, value in result.items():
            console.print(f"{name:<12} {value if value is not None else '-'}")
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
    import json

    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, insecure=insecure_permissions)
    with store.reading() as (_state, lines):
        entries = [json.loads(line) for line in lines]
    if limit is not None:
        entries = entries[-limit:] if limit > 0 else []
    result = {"keystore": str(store.path), "entries": entries}

    def table(console) -> None:
        from rich.table import Table

        grid = Table(title="Key history", title_justify="left")
        for column in ("seq", "time", "event", "purpose", "old", "new", "actor", "reason"):
            grid.add_column(column)
        for e in entries:
            grid.add_row(str(e["seq"]), e["time"], e["event"], e.get("purpose") or "-", _short(e.get("old_id")),
                         _short(e.get("new_id")), e.get("actor") or "-", e.get("reason") or "")
        console.print(grid)
    app_.emit(result, table)


# ---------------------------------------------------------------------- export-public


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
    import base64
    import json

    from x0ctl.keystore import resolve

    app_ = get_app(ctx, output)
    fmt = "json" if app_.json and fmt == "pem" else fmt
    if fmt not in ("pem", "raw", "json"):
        raise UsageError(f"unknown format {fmt!r}; use pem, raw or json")
    if purpose not in (None, "kem", "sig"):
        raise UsageError(f"unknown purpose {purpose!r}; use kem or sig")
    store = _store(ctx, keystore, insecure=insecure_permissions)
    with store.reading() as (state, _lines):
        records = store.records(state)
        if key_id:
            chosen = [resolve(records, key_id)]
        else:
            chosen = [r for r in records if r.state == "active" and (purpose is None or r.purpose == purpose)]
        pems = {r.id: (store.path / r.public_key).read_bytes() for r in chosen}
        raws = {r.id: store.load_public(r) for r in chosen}
    if fmt == "raw":
        if len(chosen) != 1:
            raise UsageError("--format raw exports exactly one key: give an ID or --purpose")
        data = raws[chosen[0].id]
    elif fmt == "pem":
        data = b"".join(pems[r.id] for r in chosen)
    else:
        data = (json.dumps({"node": state.get("node"), "epoch": state.get("epoch"), "keys": [
            {"id": r.id, "short_id": r.short, "purpose": r.purpose, "algorithm": r.algorithm, "version": r.version,
             "state": r.state, "public_key": base64.b64encode(raws[r.id]).decode(), "pem": pems[r.id].decode()}
            for r in chosen]}, indent=2) + "\n").encode()
    if out is not None:
        from x0ctl.keystore.fsutil import atomic_write

        atomic_write(out, data, mode=0o644)
        app_.info(f"wrote {len(chosen)} public key(s) to {out}")
    else:
        sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(data.decode("latin-1"))
        sys.stdout.flush()


# ---------------------------------------------------------------------- verify


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Check the whole keystore: permissions, each private key against its public key and id, one active key per purpose, the history chain and signatures.

    Read-only. Exit 1 with the list of problems. Leftovers of an interrupted operation are reported as notes (the next change removes them).

    Examples:
      x0ctl keys verify
      x0ctl keys verify --keystore /mnt/restore-test -o json
    """
    app_ = get_app(ctx, output)
    store = _store(ctx, keystore, insecure=insecure_permissions)
    report = store.verify()
    result = report.to_dict()

    def table(console) -> None:
        for problem in report.problems:
            console.print(f"[red]PROBLEM[/red] {problem}")
        for note in report.notes:
            console.print(f"note: {note}")
        verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        console.print(f"{verdict}: {report.keys_checked} keys, {report.history_entries} history entries in {report.path}")
    app_.emit(result, table)
    if not report.ok:
        raise CheckFailed(f"keystore verification failed: {len(report.problems)} problem(s); first: {report.problems[0]}")


# ---------------------------------------------------------------------- backup / restore


@app.command("backup-identity")
def backup_identity_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Where to write the identity (mode 0600). Keep it offline.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    output: OutputOption = None,
) -> None:
    """Create a post-quantum age recovery identity (AGE-SECRET-KEY-PQ-1...) and print its recipient (age1pq1...).

    Store the identity file offline; give the recipient to `keys backup --recipient`. The file is in age's own format, so `age -d -i FILE` (age >= 1.3) reads backups too.

    Examples:
      x0ctl keys backup-identity --out /media/usb/x0ctl-recovery.txt
    """
    from datetime import datetime

    from x0ctl.keystore import age
    from x0ctl.keystore.fsutil import atomic_write

    app_ = get_app(ctx, output)
    if out.exists() and not force:
        raise UsageError(f"{out} exists; refusing to overwrite an identity (pass --force)")
    identity = age.HybridIdentity.generate()
    recipient = str(identity.recipient())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    atomic_write(out, f"# created: {created}\n# public key: {recipient}\n{identity.encode()}\n".encode(), mode=0o600)
    result = {"identity_file": str(out), "recipient": recipient}
    app_.emit(result, lambda console: console.print(recipient, soft_wrap=True))


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
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    keystore: KeystoreOption = None,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Back up the whole keystore (all versions, history, metadata) as an age v1 file.

    Encrypted to post-quantum recipients (age1pq1..., from `keys backup-identity`) or to a passphrase (age scrypt; by the age spec a passphrase must be the only recipient). The standard `age` tool decrypts it: `age -d -i identity.txt` or `age -d` with the passphrase.

    Examples:
      x0ctl keys backup --out /media/usb/node-17.age -r age1pq1...
      x0ctl keys backup --out node-17.age --passphrase-file /run/secrets/backup-pass
    """
    from x0ctl.keystore import age
    from x0ctl.keystore.fsutil import atomic_write

    app_ = get_app(ctx, output)
    recipients = []
    texts = list(recipient or [])
    if recipients_file:
        texts += [line.strip() for line in read_text(recipients_file, "recipients file").splitlines()
                  if line.strip() and not line.strip().startswith("#")]
    recipients += [age.HybridRecipient.parse(text) for text in texts]
    secret = _read_passphrase(passphrase_file, passphrase_env)
    if secret is None and (passphrase or not recipients):
        secret = _prompt_passphrase(confirm=True)
    if secret is not None:
        recipients.append(age.ScryptRecipient(secret, scrypt_work_factor))
    if out.exists() and not force:
        raise UsageError(f"{out} exists; refusing to overwrite a backup (pass --force)")
    store = _store(ctx, keystore, insecure=insecure_permissions)
    payload = store.snapshot()
    data = age.encrypt(payload, recipients)
    atomic_write(out, data, mode=0o600)
    result = {"backup": str(out), "bytes": len(data), "keystore": str(store.path),
              "recipients": [str(r) if isinstance(r, age.HybridRecipient) else f"scrypt (work factor {r.work_factor})"
                             for r in recipients]}
    app_.emit(result, lambda console: console.print(f"wrote {out} ({len(data)} bytes) for {len(recipients)} recipient(s)"))


@app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    backup: Annotated[Path, typer.Argument(metavar="FILE", help="An age file made by `keys backup` (or by age from one).")],
    identity: Annotated[list[Path] | None, typer.Option("--identity", "-i", show_default=False,
                                                        help="age identity file (AGE-SECRET-KEY-PQ-1...); repeatable.")] = None,
    passphrase_file: PassphraseFileOption = None,
    passphrase_env: PassphraseEnvOption = None,
    force: Annotated[bool, typer.Option("--force", help="Move an existing keystore aside (kept; path printed) and restore.")] = False,
    expect_signer: Annotated[str | None, typer.Option(
        "--expect-signer", metavar="FINGERPRINT", show_default=False,
        help="The node's first signing key id (>= 32 hex digits; `keys history` shows it): refuse a backup started "
             "by any other key.")] = None,
    allow_other_node: Annotated[bool, typer.Option(
        "--allow-other-node", help="Allow replacing a keystore with one whose history another node's key started.")] = False,
    allow_rollback: Annotated[bool, typer.Option(
        "--allow-rollback", help="With --force: allow a backup older than the keystore it replaces (un-revoking keys, "
                                 "lowering the epoch).")] = False,
    keystore: KeystoreOption = None,
    wait: WaitOption = False,
    insecure_permissions: InsecureOption = False,
    output: OutputOption = None,
) -> None:
    """Restore a keystore from an age backup, after checking everything `keys verify` checks on it.

    The target changes atomically and only after the backup decrypted and verified; otherwise (wrong passphrase or identity, truncated, tampered or non-age file) exit 1 and the target is untouched. An existing keystore is replaced only with --force, and is moved aside, never deleted. A backup older than the keystore it replaces (one that would un-revoke a key or lower the epoch) also needs --allow-rollback. Origin: a backup replacing a keystore must come from the same node (the same first signing key; else --allow-other-node); into an empty keystore, pin the node with --expect-signer, since anyone holding the public age recipient can encrypt a keystore of their own.

    Examples:
      x0ctl keys restore /media/usb/node-17.age -i /media/usb/x0ctl-recovery.txt
      x0ctl keys restore node-17.age --passphrase-file pass.txt --keystore /var/lib/x0ctl/keys --force
    """
    from x0ctl.keystore import age, restore
    from x0ctl.keystore.store import default_path
    from x0ctl.pqc import get_backend

    app_ = get_app(ctx, output)
    identities = []
    for path in identity or []:
        identities += age.read_identity_file(read_text(path, "identity file"))
    secret = _read_passphrase(passphrase_file, passphrase_env)
    if secret is None and not identities:
        secret = _prompt_passphrase(confirm=False)
    if secret is not None:
        identities.append(age.ScryptIdentity(secret))
    payload = age.decrypt(read_bytes(backup, "backup"), identities)
    target = keystore.expanduser() if keystore else default_path()
    result = restore(payload, target, backend=get_backend(app_.backend), force=force, wait=wait, allow_rollback=allow_rollback,
                     expect_signer=expect_signer, allow_other_node=allow_other_node,
                     insecure_permissions=insecure_permissions)

    def table(console) -> None:
        console.print(f"restored {result['keys']} keys and {result['history_entries']} history entries into {result['keystore']}")
        if result["replaced"]:
            console.print(f"the previous keystore was moved to {result['replaced']}")
    app_.emit(result, table)
