"""Review: a key's lifetime in state.json (not_after, created) is not covered by the signed history.

An attacker with write access to the keystore edits state.json to push an active key's not-after
(set by `keys generate --validity`) far into the future, or makes an old key look freshly created.
`keys verify` still says OK, the "expired; rotate it" note and the key-age gauges are silenced.
Fault: x0ctl/keystore/store.py (Keystore verify / _check_state_against_history) compares only state,
epoch and node with the replayed history; the history never records not_after.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_x0ctl


@pytest.mark.parametrize("field, forged", [("not_after", "2099-01-01T00:00:00Z"),
                                           ("created", "2099-01-01T00:00:00Z")])
def test_review_keys_verify_detects_edited_key_lifetime(tmp_path, field, forged):
    keystore = tmp_path / "ks"
    env = {"X0CTL_KEYSTORE": str(keystore)}
    done = run_x0ctl("keys", "generate", "--validity", "30d", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert run_x0ctl("keys", "verify", env=env, timeout=60).returncode == 0
    state_path = keystore / "state.json"
    state = json.loads(state_path.read_text())
    signing = next(item for item in state["keys"] if item["purpose"] == "sig")
    assert signing[field] not in (None, forged)
    signing[field] = forged
    state_path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.chmod(state_path, 0o600)
    done = run_x0ctl("keys", "verify", env=env, timeout=60)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
