"""Local-filesystem destination: a hidden temporary file in the target directory, renamed last."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from airflow_provider_langdock.destinations.base import DEFAULT_CONTENT_TYPE, Destination, iter_byte_chunks

log = logging.getLogger(__name__)


class LocalDestination(Destination):
    """Write to an absolute local path.

    Bytes go to ``.<name>.<random>.part`` next to the target, which is flushed, fsynced and then
    moved over the target with :func:`os.replace` (atomic within one filesystem). On failure the
    temporary file is removed. Missing parent directories are created.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_absolute():
            raise ValueError(f"LocalDestination needs an absolute path, got {str(path)!r}")
        self.uri = self.path.as_uri()

    def exists(self) -> bool:
        """Return whether anything (file, directory or link) already sits at the path."""
        return os.path.lexists(self.path)

    def write(self, chunks: Iterable[bytes], *, content_type: str = DEFAULT_CONTENT_TYPE) -> int:
        """Stream ``chunks`` into the file; ``content_type`` is irrelevant on a filesystem."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp_path = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.part")
        log.info("Writing %s", self.uri)
        # O_EXCL: never reuse an existing file; mode 0o666 lets the umask decide like a plain open().
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        written = 0
        try:
            with os.fdopen(fd, "wb") as temp_file:
                for chunk in iter_byte_chunks(chunks):
                    temp_file.write(chunk)
                    written += len(chunk)
                temp_file.flush()
                os.fsync(temp_file.fileno())
            os.replace(temp_path, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp_path.unlink()
            log.warning("Writing %s failed; removed the temporary file", self.uri)
            raise
        _fsync_directory(self.path.parent)
        log.info("Wrote %d bytes to %s", written, self.uri)
        return written


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); silently skipped where directories cannot be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
