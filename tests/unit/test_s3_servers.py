"""Which S3 server binary ``devstack`` runs, and what it says when there is none (no server
starts here: ``tests/integration/test_store_transfers.py`` runs them).

MinIO is found as ``$MINIO_BINARY``, else in the build cache ``make tools`` fills, else on
PATH; missing, the error names ``make tools`` and the script behind it, and so does ``make
tools`` itself when ``MINIO_BINARY`` points at nothing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack import s3_server
from devstack.s3_server import RcloneS3Server, S3Server, binary_cache, server_class
from devstack.seaweedfs_server import SeaweedFSServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_binaries(monkeypatch, tmp_path):
    """No MINIO_BINARY, an empty build cache, a PATH with no server on it."""
    monkeypatch.delenv("MINIO_BINARY", raising=False)
    monkeypatch.delenv("WEED_BINARY", raising=False)
    monkeypatch.setenv("RAY_PLATFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return tmp_path


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_cache_follows_versions_sh(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_PLATFORM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert binary_cache() == tmp_path / "ray-platform"
    monkeypatch.setenv("RAY_PLATFORM_CACHE", str(tmp_path / "own"))
    assert binary_cache() == tmp_path / "own"


def test_a_missing_minio_names_make_tools_and_the_script(no_binaries):
    server = S3Server(root=no_binaries / "data")
    with pytest.raises(FileNotFoundError) as info:
        server.start()
    message = str(info.value)
    assert "make tools" in message and "bash docker/local/go-binaries.sh minio" in message
    assert "MINIO_BINARY" in message
    assert server.process is None and not (no_binaries / "data").exists()


def test_minio_is_looked_for_in_the_env_then_the_cache_then_path(no_binaries, monkeypatch):
    on_path = executable(no_binaries / "empty-bin" / "minio")
    assert s3_server.minio_binary() == str(on_path)
    cached = executable(no_binaries / "cache" / "bin" / "minio")
    assert s3_server.minio_binary() == str(cached)
    given = executable(no_binaries / "elsewhere" / "minio")
    monkeypatch.setenv("MINIO_BINARY", str(given))
    assert s3_server.minio_binary() == str(given)
    monkeypatch.setenv("MINIO_BINARY", str(no_binaries / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"MINIO_BINARY=.* is not an executable file"):
        s3_server.minio_binary()


def test_the_minio_command_binds_127_0_0_1_with_its_own_home(no_binaries):
    executable(no_binaries / "cache" / "bin" / "minio")
    server = S3Server(root=no_binaries / "data")
    command = server.command()
    assert command[1:3] == ["server", str(no_binaries / "data")]
    assert f"127.0.0.1:{server.port}" in command
    assert f"127.0.0.1:{server.console_port}" in command
    env = server.env()
    assert env["MINIO_ROOT_USER"] == server.access_key
    assert env["MINIO_ROOT_PASSWORD"] == server.secret_key
    assert env["MINIO_UPDATE"] == "off" and env["HOME"] == str(server.home)
    assert server.home != server.root and not server.home.is_relative_to(server.root)


def test_seaweedfs_is_only_for_the_bench_and_names_its_target(no_binaries):
    with pytest.raises(FileNotFoundError, match=r"go-binaries\.sh seaweedfs"):
        SeaweedFSServer(root=no_binaries / "data").command()


def test_server_kinds():
    assert server_class("minio") is S3Server
    assert server_class("rclone") is RcloneS3Server
    assert server_class("seaweedfs") is SeaweedFSServer
    with pytest.raises(ValueError, match="choose minio, seaweedfs or rclone"):
        server_class("ceph")


def test_make_tools_refuses_a_minio_binary_that_is_not_there(tmp_path):
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "tools-minio"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MINIO_BINARY": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "MINIO_BINARY=/nonexistent is not an executable" in result.stderr
