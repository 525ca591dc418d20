"""The one exception type whose message is meant to be the Job's failure line as is."""

from __future__ import annotations


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what happened and what to do."""
