"""Writing files so that a crash never leaves half of one, and checking their digests.

Used by every layer that writes: provisioning (data files), training (checkpoints), quiz (progress).
"""
from __future__ import annotations

import glob
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_HOST = socket.gethostname().replace("/", "_")
LEGACY_STALE_S = 3600  # temporaries without a writer's name are stale after an hour


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporaries of `path` that a killed writer left behind (its process is gone); return them.

    A temporary is `.NAME.tmp-HOST-PID-XXXX.tmp`: only this machine's, whose process has ended, are removed
    (another machine's writer on a shared folder may still be alive). Older `.NAME.XXXX.tmp` files: after an hour."""
    path, removed = Path(path), []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        owner = tmp.name[len(path.name) + 2:-len(".tmp")]
        if owner.startswith("tmp-"):
            parts = owner[len("tmp-"):].rsplit("-", 2)  # host, pid, mkstemp's random letters
            stale = len(parts) == 3 and parts[0] == _HOST and parts[1].isdigit() and not _alive(int(parts[1]))
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > LEGACY_STALE_S
            except FileNotFoundError:  # its writer just renamed it
                continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to somebody else
        return True
    return True


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-{_HOST}-{os.getpid()}-", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; a normal file respects the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
