#!/usr/bin/env bash
# Rotate this node's keys when they are due, verify the keystore, back it up (and prove the backup
# restores), and leave metrics for node_exporter's textfile collector. Made for cron:
#
#   17 3 * * *  X0CTL_KEYSTORE=/var/lib/x0ctl/keys BACKUP_DIR=/backup/x0ctl \
#               BACKUP_RECIPIENT=age1pq1... METRICS_DIR=/var/lib/node_exporter/textfile \
#               /usr/local/lib/x0ctl/rotate-and-verify.sh
#
# Run as-is it works on a scratch directory under $TMPDIR: a first run creates a keystore and a
# demo recovery identity next to it. In production give BACKUP_RECIPIENT (the `age1pq1...` line of
# an identity kept offline, from `x0ctl keys backup-identity`) or BACKUP_PASSPHRASE_FILE.
#
# Each run first checks the keystore against the checkpoint the previous run left in CHECKPOINT_DIR
# (put that directory outside the node: an NFS/git checkout, or copy the file to a peer), so a
# keystore rolled back to an older copy or swapped for another node's fails here, then writes a
# new checkpoint after the rotation.
#
# Exit status: 0 done (also when no key was due); otherwise the failing x0ctl command's status
# (1 keystore problems, 2 bad input, 3 environment, 4 I/O, no keystore, or locked by another run).
set -euo pipefail
umask 077

WORK_DIR=${WORK_DIR:-${TMPDIR:-/tmp}/x0ctl-rotate-and-verify}
KEYSTORE=${X0CTL_KEYSTORE:-$WORK_DIR/keystore}
NODE=${NODE:-$(hostname -s 2>/dev/null || hostname)}
ROTATE_IF_OLDER_THAN=${ROTATE_IF_OLDER_THAN:-30d}   # rotate keys active for at least this long
KEEP_RETIRED=${KEEP_RETIRED:-3}                     # retired private keys kept for recovery
BACKUP_DIR=${BACKUP_DIR:-$WORK_DIR/backups}
BACKUPS_TO_KEEP=${BACKUPS_TO_KEEP:-14}
BACKUP_RECIPIENT=${BACKUP_RECIPIENT:-}               # age1pq1... (post-quantum age recipient)
BACKUP_PASSPHRASE_FILE=${BACKUP_PASSPHRASE_FILE:-}  # or a passphrase file (first line)
SCRYPT_WORK_FACTOR=${SCRYPT_WORK_FACTOR:-}           # passphrase backups: x0ctl's default (18) unless set
BACKUP_IDENTITY=${BACKUP_IDENTITY:-}                 # identity for the test restore; demo default below
VERIFY_BACKUP=${VERIFY_BACKUP:-auto}                 # auto: when an identity or passphrase is at hand
METRICS_DIR=${METRICS_DIR:-$WORK_DIR/textfile}
CHECKPOINT_DIR=${CHECKPOINT_DIR:-$WORK_DIR/checkpoints}   # keep outside the node in production
X0CTL=${X0CTL:-x0ctl}                                # e.g. "python3 -m x0ctl" or "x0ctl --backend liboqs"

read -r -a x0ctl <<<"$X0CTL"
log() { printf '%s rotate-and-verify: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
keys() { "${x0ctl[@]}" keys "$@"; }

mkdir -p "$BACKUP_DIR" "$METRICS_DIR" "$CHECKPOINT_DIR"
checkpoint="$CHECKPOINT_DIR/$NODE.checkpoint"

if [[ ! -e "$KEYSTORE/state.json" ]]; then
    log "no keystore at $KEYSTORE: generating the key set for node $NODE"
    mkdir -p "$(dirname "$KEYSTORE")"
    keys generate --keystore "$KEYSTORE" --node "$NODE"
fi

log "verifying $KEYSTORE before rotating"
anchor=()
[[ ! -e "$checkpoint" ]] || anchor=(--checkpoint "$checkpoint")
keys verify --keystore "$KEYSTORE" "${anchor[@]}"

log "rotating keys older than $ROTATE_IF_OLDER_THAN (keeping $KEEP_RETIRED retired versions)"
keys rotate --keystore "$KEYSTORE" --if-older-than "$ROTATE_IF_OLDER_THAN" --keep "$KEEP_RETIRED" \
    --metrics-file "$METRICS_DIR/x0ctl_keys.prom"

# Key-age gauges (active key creation and not-after per purpose) for alerts before a key is overdue.
keys verify --keystore "$KEYSTORE" --metrics-file "$METRICS_DIR/x0ctl_keys.prom"
keys checkpoint --keystore "$KEYSTORE" --out "$checkpoint"

backup_source=()
if [[ -n "$BACKUP_RECIPIENT" ]]; then
    backup_source=(-r "$BACKUP_RECIPIENT")
elif [[ -n "$BACKUP_PASSPHRASE_FILE" ]]; then
    backup_source=(--passphrase-file "$BACKUP_PASSPHRASE_FILE")
    [[ -z "$SCRYPT_WORK_FACTOR" ]] || backup_source+=(--scrypt-work-factor "$SCRYPT_WORK_FACTOR")
else
    # Demo mode: an identity next to the keystore. Real identities live offline, not on the node.
    BACKUP_IDENTITY=${BACKUP_IDENTITY:-$WORK_DIR/recovery-identity.txt}
    if [[ ! -e "$BACKUP_IDENTITY" ]]; then
        log "no BACKUP_RECIPIENT or BACKUP_PASSPHRASE_FILE: creating a demo recovery identity $BACKUP_IDENTITY"
        keys backup-identity --out "$BACKUP_IDENTITY" >/dev/null
    fi
    recipient=$(sed -n 's/^# public key: //p' "$BACKUP_IDENTITY")
    [[ -n "$recipient" ]] || { log "no '# public key:' line in $BACKUP_IDENTITY"; exit 2; }
    backup_source=(-r "$recipient")
fi

backup="$BACKUP_DIR/$NODE-$(date -u +%Y%m%dT%H%M%SZ).age"
log "backing up to $backup"
# The node signer (the first signing key of the history) pins the test restore below, as it
# must pin a restore onto an empty disk: anyone with the public recipient can make a backup.
signer=$(keys backup --keystore "$KEYSTORE" --out "$backup" "${backup_source[@]}" -o json |
    sed -n 's/^ *"signer": "\(sha256:[0-9a-f]*\)".*/\1/p')
[[ -n "$signer" ]] || { log "keys backup did not report the node signer"; exit 1; }

restore_with=()
if [[ -n "$BACKUP_IDENTITY" ]]; then
    restore_with=(-i "$BACKUP_IDENTITY")
elif [[ -n "$BACKUP_PASSPHRASE_FILE" ]]; then
    restore_with=(--passphrase-file "$BACKUP_PASSPHRASE_FILE")
fi
if [[ "$VERIFY_BACKUP" == yes || ( "$VERIFY_BACKUP" == auto && ${#restore_with[@]} -gt 0 ) ]]; then
    # A backup is only as good as its restore: unpack it into a scratch directory, where
    # `keys restore` runs every `keys verify` check, then throw the copy away.
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/x0ctl-restore-check.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    keys restore "$backup" "${restore_with[@]}" --keystore "$scratch/keystore" --expect-signer "$signer" >/dev/null
    rm -rf "$scratch"
    log "backup restores and verifies"
fi

# Keep the newest $BACKUPS_TO_KEEP backups of this node (UTC times in the names sort oldest first).
all_backups=("$BACKUP_DIR/$NODE"-*.age)
if ((${#all_backups[@]} > BACKUPS_TO_KEEP)); then
    old_backups=("${all_backups[@]:0:${#all_backups[@]}-BACKUPS_TO_KEEP}")
    log "removing ${#old_backups[@]} old backup(s)"
    rm -f -- "${old_backups[@]}"
fi

# When this job last succeeded, for an alert on a cron job that stopped running. Written to a
# temporary file and renamed, so the collector never reads half a file.
job_metrics="$METRICS_DIR/x0ctl_keys_job.prom"
cat >"$job_metrics.$$" <<EOF
# HELP x0ctl_keys_job_last_success_timestamp_seconds Last successful rotate-and-verify run.
# TYPE x0ctl_keys_job_last_success_timestamp_seconds gauge
x0ctl_keys_job_last_success_timestamp_seconds $(date +%s)
# HELP x0ctl_keys_backup_size_bytes Size of the newest keystore backup.
# TYPE x0ctl_keys_backup_size_bytes gauge
x0ctl_keys_backup_size_bytes $(wc -c <"$backup")
EOF
mv -f "$job_metrics.$$" "$job_metrics"
log "done"
