"""Keys read from files (Secrets mounted as volumes), re-read when the kubelet rotates them.

A Secret mounted as a volume (not through `subPath`) is updated in place by the kubelet when the Secret
changes: it writes the new files into a fresh directory and swaps a symlink, so a reader sees either the old
or the new value, never a half-written one. The delay is the kubelet's sync period plus its Secret cache's
propagation (about a minute by default); `SecretFile` adds at most `recheck_seconds` to that.

    key = SecretFile("/etc/ragops-keys/api-key")   # reads now: SecretFileError if missing, unreadable or empty
    key.get()                                        # the current value, re-read after the file changed
    value_of(key_or_string_or_none)                  # str | None, for code that also takes a plain value

`key_from_environ(environ, "NAME")` gives the conventional fallback chain: `NAME_FILE` (a path) first, then
`NAME` (the value itself, for local runs and tests), else None. Values are stripped of surrounding whitespace:
`kubectl create secret --from-file` keeps the file's trailing newline, which no key means and which HTTP
headers refuse.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

FILE_SUFFIX = "_FILE"
RECHECK_SECONDS = 1.0


class SecretFileError(ValueError):
    """A key file cannot be used; the message names the path, never the content."""


def read_key(path: str | os.PathLike[str]) -> str:
    """The key in `path`, stripped; SecretFileError when it is missing, unreadable or empty."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SecretFileError(f"key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SecretFileError(f"cannot read key file {path}: {getattr(error, 'strerror', None) or error}") from None
    if not value:
        raise SecretFileError(f"key file {path} is empty")
    return value


class SecretFile:
    """One key file, read at construction and again whenever it changes.

    `get()` looks at the file's identity (inode, size, modification time) at most every `recheck_seconds`
    (one stat: cheap enough for every request) and re-reads it when that changed. A file that turns bad
    later (removed, emptied) keeps the last good value, with one warning, so a botched rotation does not take
    the process down; `version` counts the values seen, for callers that cache something built from the key.
    Thread-safe.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._recheck = recheck_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._identity = self._stat()
        self._value = read_key(self.path)
        self._checked = clock()
        self._warned = False
        self.version = 1

    def get(self) -> str:
        """The current key."""
        with self._lock:
            now = self._clock()
            if now - self._checked >= self._recheck:
                self._checked = now
                self._refresh()
            return self._value

    def __repr__(self) -> str:  # never the value
        return f"SecretFile({str(self.path)!r})"

    def _refresh(self) -> None:
        identity = self._stat()
        if identity == self._identity:
            return
        try:
            value = read_key(self.path)
        except SecretFileError as error:
            if not self._warned:
                log.warning("%s; keeping the previous key", error)
                self._warned = True
            return
        self._identity, self._warned = identity, False
        if value != self._value:
            self._value = value
            self.version += 1
            log.info("key file %s changed: using the new key", self.path)

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            # Follows the kubelet's symlinks: a rotation points them at a new file (new inode).
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


Key = str | SecretFile


def value_of(key: Key | None) -> str | None:
    """The current value of a plain or file-backed key (None stays None)."""
    if key is None or isinstance(key, str):
        return key
    return key.get()


def key_from_environ(environ: Mapping[str, str], name: str, *, recheck_seconds: float = RECHECK_SECONDS) -> Key | None:
    """`NAME_FILE` set: a SecretFile on that path (read now, SecretFileError if unusable); else `NAME`'s value;
    else None. An empty variable counts as unset."""
    path = environ.get(name + FILE_SUFFIX)
    if path:
        return SecretFile(path, recheck_seconds=recheck_seconds)
    return environ.get(name) or None
