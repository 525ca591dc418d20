"""ragops.secretfiles: a key file read once, re-read after the kubelet rotates it, at most once per interval."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.secret_volume import SecretVolume

from ragops.secretfiles import SecretFile, SecretFileError, key_from_environ, read_key, value_of


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_rotation_is_seen_after_the_recheck_interval_not_before(tmp_path: Path) -> None:
    volume = SecretVolume(tmp_path, {"apiKey": "one\n"})
    clock = Clock()
    key = SecretFile(volume.path("apiKey"), recheck_seconds=1.0, clock=clock)
    assert (key.get(), key.version) == ("one", 1)

    volume.update({"apiKey": "two"})
    clock.now = 0.5
    assert key.get() == "one"  # within the interval: no stat, the cached value
    clock.now = 1.0
    assert (key.get(), key.version) == ("two", 2)
    clock.now = 5.0
    assert (key.get(), key.version) == ("two", 2)  # unchanged file: no new version


def test_values_never_show_in_reprs_or_errors(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("s3cret")
    assert "s3cret" not in repr(SecretFile(path))
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(SecretFileError) as error:
        read_key(path)
    assert str(path) in str(error.value)


def test_environment_fallback_chain(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("from-file")
    from_file = key_from_environ({"K_FILE": str(path), "K": "plain"}, "K")
    assert isinstance(from_file, SecretFile) and value_of(from_file) == "from-file"
    assert key_from_environ({"K": "plain"}, "K") == "plain"
    assert key_from_environ({"K": "", "K_FILE": ""}, "K") is None
    assert value_of(None) is None and value_of("v") == "v"
    with pytest.raises(SecretFileError, match="does not exist"):
        key_from_environ({"K_FILE": str(tmp_path / "missing")}, "K")
