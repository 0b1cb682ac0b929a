"""The standalone server's data directory: private to the user who runs it.

It holds the SQLite database (with its WAL and shared-memory files) and the generated secret
key: live session keys, password hashes, the key that signs every token. Created with the
process's umask, it was 0755 and the database 0644, readable by any local user (issue 10).
So the directory is made 0700, the files in it lose every group and other bit, and the
database file is created 0600 before SQLite opens it: SQLite gives the WAL and shared-memory
files it creates later the database file's own mode.
"""

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger("clarion.server")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_data_dir(path: Path, *, database: Path | None = None) -> Path:
    """Create ``path`` 0700 (or tighten it, with a warning), tighten its files to 0600 at most,
    and create ``database`` 0600 if it does not exist yet. Returns ``path``."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    loose = stat.S_IMODE(path.stat().st_mode) & 0o077
    if loose:
        _tighten(path, DIR_MODE, "data directory")
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink() and stat.S_IMODE(child.stat().st_mode) & 0o077:
            _tighten(child, stat.S_IMODE(child.stat().st_mode) & 0o700, "file")
    if database is not None:
        try:
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass
    return path


def _tighten(path: Path, mode: int, what: str) -> None:
    try:
        path.chmod(mode)
    except OSError as exc:  # not the owner: say so, the server still starts
        logger.warning("%s %s is readable by other users and could not be made private (%s); "
                       "run: chmod go-rwx %s", what, path, exc, path)
    else:
        logger.warning("%s %s was readable by other users; made it %o", what, path, mode)
