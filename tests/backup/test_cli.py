"""The command lines the operator's Jobs use, parsed and validated."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from ragops.backup.catalog import list_backups
from ragops.backup.cli import add_backup_arguments, add_restore_arguments
from ragops.backup.layout import StoreRef
from ragops.backup.storage import PvcStorage
from ragops.cli import main
from tests.backup.conftest import API_KEY, STORE, backup
from tests.qdrant.double import Running


def parse(add: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)  # type: ignore[operator]
    return parser.parse_args(argv)


def test_backup_command_line_as_the_cronjob_writes_it() -> None:
    args = parse(
        add_backup_arguments,
        ["--store", "search/docs", "--node-url", "http://docs-qdrant-0.h:6333", "--node-url",
         "http://docs-qdrant-1.h:6333/", "--retention", "2w", "--s3-bucket", "b", "--s3-prefix", "p",
         "--s3-endpoint", "http://minio:9000", "--s3-region", "eu-west-1"],
    )  # fmt: skip
    assert args.store == StoreRef("search", "docs")
    assert args.node_urls == ["http://docs-qdrant-0.h:6333", "http://docs-qdrant-1.h:6333"]
    assert args.retention.days == 14 and args.backup_name is None and args.pvc_path is None
    assert (args.s3_bucket, args.s3_prefix, args.s3_endpoint, args.s3_region) == (
        "b",
        "p",
        "http://minio:9000",
        "eu-west-1",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--node-url", "http://q:6333", "--pvc-path", "/b"], "--store"),
        (["--store", "docs", "--node-url", "http://q:6333", "--pvc-path", "/b"], "NAMESPACE/NAME"),
        (["--store", "a/b", "--pvc-path", "/b"], "--node-url"),
        (["--store", "a/b", "--node-url", "q:6333", "--pvc-path", "/b"], "http://"),
        (["--store", "a/b", "--node-url", "http://q", "--retention", "1y", "--pvc-path", "/b"], "retention must"),
        (["--store", "a/b", "--node-url", "http://q", "--backup-name", "../x", "--pvc-path", "/b"], "backup name"),
        (["--store", "a/b", "--node-url", "http://q"], "--pvc-path --s3-bucket"),
        (["--store", "a/b", "--node-url", "http://q", "--pvc-path", "/b", "--s3-bucket", "x"], "not allowed"),
    ],
)
def test_bad_backup_command_lines_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(add_backup_arguments, argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_restore_needs_a_backup_name(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--store", "a/b", "--node-url", "http://q:6333", "--pvc-path", "/b"]
    with pytest.raises(SystemExit):
        parse(add_restore_arguments, base)
    assert "--backup-name" in capsys.readouterr().err
    args = parse(add_restore_arguments, [*base, "--backup-name", "docs-backup-29000000", "--overwrite"])
    assert (args.backup_name, args.overwrite) == ("docs-backup-29000000", True)


def test_backup_name_comes_from_the_job_then_the_clock(
    source: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGOPS_BACKUP_NAME", "docs-backup-29000000")
    assert backup(source, "--pvc-path", str(tmp_path)) == 0
    monkeypatch.delenv("RAGOPS_BACKUP_NAME")
    assert backup(source, "--pvc-path", str(tmp_path)) == 0

    names = [info.name for info in list_backups(PvcStorage(tmp_path), STORE)]
    assert names[0] == "docs-backup-29000000"
    assert len(names) == 2 and names[1].startswith("backup-") and len(names[1]) == len("backup-20261123-020000")


def test_missing_backup_volume_is_reported(source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert backup(source, "--pvc-path", str(tmp_path / "not-mounted"), name="b1") == 1
    assert "is the backup volume mounted?" in caplog.text


def test_ragops_main_delegates_to_the_backup_entrypoint(
    source: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    nodes = [arg for url in source.node_urls() for arg in ("--node-url", url)]

    code = main(["backup", "--store", STORE, *nodes, "--retention", "30d", "--backup-name", "b1",
                 "--pvc-path", str(tmp_path)])  # fmt: skip

    assert code == 0 and (tmp_path / STORE / "b1" / "manifest.json").is_file()


def test_keys_come_from_the_mounted_files_before_the_environment(
    source: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "keys" / "apiKey"
    key_file.parent.mkdir()
    key_file.write_text(API_KEY + "\n")  # as `kubectl create secret --from-file` often leaves it
    monkeypatch.setenv("QDRANT_API_KEY", "stale-key-from-the-environment")
    monkeypatch.setenv("QDRANT_API_KEY_FILE", str(key_file))
    assert backup(source, "--pvc-path", str(tmp_path), name="b1") == 0

    key_file.unlink()
    assert backup(source, "--pvc-path", str(tmp_path), name="b2") == 1
    assert f"key file {key_file} does not exist" in caplog.text
    assert API_KEY not in caplog.text
