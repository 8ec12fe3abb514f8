"""Local-filesystem destination: a hidden temporary file in the target directory, renamed last."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from airflow_provider_langdock.destinations.base import (
    DEFAULT_CONTENT_TYPE,
    Destination,
    DestinationType,
    InvalidDestinationURI,
    iter_byte_chunks,
    refuse_control_characters,
)

log = logging.getLogger(__name__)

_TEMP_SUFFIX = ".part"
_TEMP_PREFIX_BYTES = 128
"""UTF-8 bytes of the target name kept in the temporary name; dots, token and suffix add 23."""

# O_EXCL: never reuse an existing file.
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class LocalDestination(Destination):
    """Write to an absolute local path.

    Bytes go to a hidden ``.<start of name>.<random>.part`` next to the target, which is flushed,
    fsynced and then moved over the target with :func:`os.replace` (atomic within one filesystem).
    Overwriting keeps the old file's permission bits; a new file gets the umask's mode. Missing
    parent directories are created. On failure the temporary file and the directories this write
    created (while empty) are removed.
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
        log.info("Writing %s", self.uri)
        created: list[Path] = []
        try:
            _make_directories(self.path.parent, created)
            written = self._write_and_replace(chunks)
        except BaseException:
            _remove_empty_directories(created)
            raise
        _fsync_directory(self.path.parent)
        log.info("Wrote %d bytes to %s", written, self.uri)
        return written

    def openlineage_naming(self) -> tuple[str, str]:
        """``("file", absolute path)``."""
        return "file", str(self.path)

    def lineage_asset(self) -> dict[str, Any]:
        """Named by common-io's ``file`` asset factory."""
        return {"scheme": "file", "asset_kwargs": {"path": str(self.path)}}

    def _write_and_replace(self, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` to a temporary file and move it over the target; remove it on failure."""
        temp_path = self.path.with_name(_temp_name(self.path.name))
        mode = _existing_mode(self.path)
        # A new file: 0o666 lets the umask decide like a plain open(). An existing one: its own mode,
        # which the umask can only narrow until fchmod sets it exactly, before any byte is written.
        fd = os.open(temp_path, _OPEN_FLAGS, 0o666 if mode is None else mode)
        written = 0
        try:
            with os.fdopen(fd, "wb") as temp_file:
                if mode is not None:
                    os.fchmod(temp_file.fileno(), mode)
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
        return written


def _temp_name(name: str) -> str:
    """Hidden temporary name for target ``name``, at most 151 UTF-8 bytes whatever its length.

    The name is cut to :data:`_TEMP_PREFIX_BYTES` bytes without splitting a character, so a target
    name of NAME_MAX (255) bytes still gets a valid temporary name.
    """
    prefix = name.encode("utf-8", "ignore")[:_TEMP_PREFIX_BYTES].decode("utf-8", "ignore")
    return f".{prefix}.{secrets.token_hex(8)}{_TEMP_SUFFIX}"


def _existing_mode(path: Path) -> int | None:
    """Permission bits (``0o777``) of the regular file at ``path``, or None if there is none."""
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.S_IMODE(status.st_mode) & 0o777 if stat.S_ISREG(status.st_mode) else None


def _make_directories(directory: Path, created: list[Path]) -> None:
    """Create ``directory`` and its missing ancestors, recording them in ``created``, deepest first.

    A directory that appears meanwhile (another writer) is not counted as created.
    """
    missing: list[Path] = []
    while not os.path.exists(directory) and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        created.insert(0, path)


def _remove_empty_directories(created: list[Path]) -> None:
    """Remove the directories in ``created`` (deepest first) that are still empty."""
    for directory in created:
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.info("Kept directory %s created for the failed write: %s", directory, error)
            return  # it is still inside its ancestors
        log.info("Removed directory %s created for the failed write", directory)


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


def _parse(scheme: str, rest: str, conn_id: str | None, part_size: int | None) -> LocalDestination:
    """``file:///<path>`` (``rest`` after the scheme) or, with no scheme, the path itself."""
    path = rest
    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise InvalidDestinationURI(
                "a file URI needs an absolute path and no host, as in file:///data/usage.csv"
            )
        path = unquote("/" + path)
        refuse_control_characters(path, " once percent-decoded")
    if not os.path.isabs(path):
        raise InvalidDestinationURI("a local path must be absolute")
    if path.endswith(("/", os.sep)) or os.path.basename(path) in ("", ".", ".."):
        raise InvalidDestinationURI("a local path must name a file, not a directory")
    return LocalDestination(path)


DESTINATION_TYPE = DestinationType(
    name="Local filesystem",
    forms=("file:///<absolute path>", "an absolute local path"),
    schemes=("file",),
    parse=_parse,
    local_paths=True,
    order=90,
)
