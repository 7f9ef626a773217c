"""What every rollout state store shares: its errors, and who is acting (recorded with every action)."""

from __future__ import annotations

import os
import socket

from x0ctl.errors import IOFailure
from x0ctl.rollout.journal import current_user


class StateStoreError(IOFailure):
    """The state store could not confirm a read or a write: the rollout must not take another step."""


class WriteUnconfirmed(StateStoreError):
    """A journal append whose outcome is unknown (unreachable store, timeout, no leader)."""


class LeaseLost(StateStoreError):
    """This process no longer holds the target's lease: another process may own the rollout now."""


def actor() -> dict:
    """Who and where, recorded with every action: the user, the host and the process."""
    return {"user": current_user(), "host": socket.gethostname(), "pid": os.getpid()}
