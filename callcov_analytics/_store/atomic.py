"""Writing files so that a crash never leaves a half-written file under the final name.

Every file goes to a uniquely named temp file beside its target, is flushed and fsynced, and
is renamed onto the target only when complete (`os.replace` is atomic on one file system).
OS errors become `StorageError`s that say what to do, with the OS error on ``__cause__``.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from .._errors import StorageError

_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or choose another folder, then run again",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another folder",
    errno.EACCES: "no permission: choose a folder you can write to",
    errno.EPERM: "no permission: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another folder",
}


@contextmanager
def atomic_open(path: Path, mode: str, encoding: str | None = None) -> Iterator[IO[Any]]:
    """A temp file beside ``path``, fsynced and renamed onto it on success, removed on failure."""
    tmp = fresh_path(path.parent / f".{path.name}.tmp-", directory=False)
    try:
        newline = "" if "b" not in mode else None
        with open(tmp, mode, encoding=encoding, newline=newline) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def fresh_path(stem: Path, *, directory: bool) -> Path:
    """Create a new, uniquely named file or folder ``<stem><random>``.

    Unlike tempfile's 0600/0700, the mode follows the umask: a report is meant to be shared.
    """
    for _ in range(100):
        candidate = stem.with_name(stem.name + secrets.token_hex(4))
        try:
            if directory:
                os.mkdir(candidate, 0o777)
            else:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(stem))


@contextmanager
def storage_errors(target: Path, consequence: str) -> Iterator[None]:
    """Turn OS write errors into StorageError with advice; StorageError passes through."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        advice = _ADVICE.get(exc.errno or 0, exc.strerror or str(exc))
        # The OS error (with its errno) stays on __cause__; setting errno here would turn
        # str(error) into "[Errno N] None".
        raise StorageError(f"could not write {target}: {advice} ({consequence})") from exc
