"""Which process is training a run. A run left 'running' by a process of this machine that no
longer exists (killed, crashed, the machine restarted) is not running any more."""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    """'host:pid' of the calling process, as the results store records a run's owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:  # e.g. a pid out of range: no such process
        return False
    return True


def owner_gone(owner: str | None) -> bool:
    """True when `owner` names a process of this machine that has ended. Owners on other
    machines, and runs recorded before owners were, cannot be judged from here: False."""
    host, _, pid = (owner or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))
