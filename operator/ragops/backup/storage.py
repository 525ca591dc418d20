"""Where backups live: the interface both destinations implement, and the PVC (filesystem) one.

Keys are relative "/"-separated paths (see layout.py). Calls are synchronous (boto3 is); the async backup
code runs them in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

PARTIAL = ".partial"
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One stored object."""

    key: str
    size: int
    modified: datetime


class Writer(Protocol):
    """A file being written in chunks; only `commit` makes it visible under its key."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    def where(self, key: str) -> str:
        """Where a key lives, for messages (a path, or an s3:// URL)."""
        ...

    def writer(self, key: str) -> Writer: ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically: readers see all of it or nothing."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's content, None when absent."""
        ...

    def chunks(self, key: str) -> contextlib.AbstractContextManager[Iterator[bytes]]:
        """The object's bytes in chunks, read as they are consumed (never staged in a local file).
        FileNotFoundError when the object is missing."""
        ...

    def list(self, prefix: str) -> list[Entry]: ...

    def delete_tree(self, prefix: str) -> None: ...


class PvcStorage:
    """Backups under a directory (the backup PVC's mount point)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def where(self, key: str) -> str:
        return str(self._path(key))

    def writer(self, key: str) -> Writer:
        return _FileWriter(self._path(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        writer = _FileWriter(self._path(key))
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def chunks(self, key: str) -> Iterator[Iterator[bytes]]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        with path.open("rb") as file:
            yield iter(lambda: file.read(READ_CHUNK), b"")

    def list(self, prefix: str) -> list[Entry]:
        # Walk the deepest directory the prefix names; the key test below handles a partial last segment.
        directory = self._path(prefix.rsplit("/", 1)[0])
        entries = []
        for dirpath, _, files in os.walk(directory):
            for name in files:
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    entries.append(Entry(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return sorted(entries, key=lambda e: e.key)

    def delete_tree(self, prefix: str) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"delete_tree needs a directory prefix ending in '/', got {prefix!r}")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self._path(prefix))

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*[part for part in key.split("/") if part])


class _FileWriter:
    """Writes `<file>.partial`, then fsyncs and renames it: a crash never leaves a truncated file under the
    final name."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._partial = path.with_name(path.name + PARTIAL)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = self._partial.open("wb")

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "write after commit or abort"
        self._file.write(chunk)

    def commit(self) -> None:
        assert self._file is not None, "commit after commit or abort"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._partial, self._path)
        _fsync_dir(self._path.parent)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._partial.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; without it a crash could forget a committed file.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
