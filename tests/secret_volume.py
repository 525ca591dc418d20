"""A Secret volume laid out the way the kubelet writes it, for tests of key files and their rotation.

The kubelet's atomic writer puts each version of the Secret in a fresh hidden directory, points the
`..data` symlink at it, and makes every key a symlink `key -> ..data/key`: a reader sees the old files or
the new ones, never a mix. `update` does the same, so rotation tests exercise what a pod sees.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path

_versions = itertools.count(1)


class SecretVolume:
    def __init__(self, directory: Path, data: Mapping[str, str]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.update(data)

    def path(self, key: str) -> Path:
        return self.directory / key

    def update(self, data: Mapping[str, str]) -> None:
        version = self.directory / f"..{next(_versions)}"
        version.mkdir()
        for key, value in data.items():
            (version / key).write_text(value)
            (version / key).chmod(0o440)
        staging = self.directory / "..data_tmp"
        staging.symlink_to(version.name)
        os.replace(staging, self.directory / "..data")  # the atomic swap
        for key in data:
            link = self.path(key)
            if not link.is_symlink():
                link.symlink_to(f"..data/{key}")
