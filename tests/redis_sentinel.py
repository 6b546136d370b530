"""A real Sentinel deployment on loopback for failover tests: a primary, its replicas and three sentinels, all
`redis-server` processes (the same binary the other tests use), started and stopped by the test.

`SentinelGroup.switchover()` is a planned failover (`SENTINEL FAILOVER`, as in an upgrade or node maintenance);
`SentinelGroup.crash()` is a `kill -9` of the primary. Both return once the sentinels name the new primary.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
from pathlib import Path

import redis

from tests.redis_cluster import READY_SECONDS, Server, admin, free_port

SERVICE = "mymaster"
PASSWORD = "failover-test-secret"


class SentinelGroup:
    """A primary with `replicas` replicas, watched by three sentinels (quorum 2) that call a node down after
    `down_after_ms`."""

    def __init__(
        self,
        directory: Path,
        *,
        replicas: int = 1,
        down_after_ms: int = 1000,
        primary_options: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.replica_count = replicas
        self.down_after_ms = down_after_ms
        self.primary_options = primary_options
        self.nodes: dict[int, Server] = {}  # every data node by port, the primary among them
        self.sentinels: list[Server] = []

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def start(self) -> SentinelGroup:
        """Start everything; return once every sentinel names the primary and knows its replicas."""
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _node(self, name: str, *extra: str) -> Server:
        port = free_port()
        # Every node may become the primary, so each gets the same options, and `masterauth` for the others.
        options = ["--requirepass", PASSWORD, "--masterauth", PASSWORD, "--save", "", "--appendonly", "no"]
        server = Server(self.directory / name, port, [*options, *self.primary_options, *extra])
        self.nodes[port] = server
        return server

    def _start(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        primary = self._node("node-0")
        primary.wait_until_listening(deadline)
        for number in range(1, self.replica_count + 1):
            replica = self._node(f"node-{number}", "--replicaof", "127.0.0.1", str(primary.port))
            replica.wait_until_listening(deadline)
        for number in range(3):
            directory = self.directory / f"sentinel-{number}"
            directory.mkdir(parents=True, exist_ok=True)
            config = directory / "sentinel.conf"  # a sentinel rewrites its config file: one each
            config.write_text(
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2\n"
                f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            sentinel = Server(directory, free_port(), [str(config), "--sentinel"])
            self.sentinels.append(sentinel)
        for sentinel in self.sentinels:
            sentinel.wait_until_listening(deadline)
        self._wait(deadline, lambda: self._agreed(primary.port, replicas=self.replica_count, sentinels=3))

    def _ask(self, sentinel: Server, *command: str) -> object:
        client = admin(sentinel.port, timeout=0.5)
        try:
            return client.execute_command(*command)
        finally:
            client.close()

    def _agreed(self, port: int, *, replicas: int, sentinels: int = 0) -> bool:
        """Every sentinel names `port` as the primary, sees `replicas` healthy replicas and, with `sentinels`, the
        other sentinels."""
        for sentinel in self.sentinels:
            try:
                found = self._ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                if not found or int(found[1]) != port:  # type: ignore[index]
                    return False
                fields = self._ask(sentinel, "SENTINEL", "MASTER", SERVICE)
                assert isinstance(fields, dict)
                if int(fields["num-slaves"]) < replicas or "failover_in_progress" in str(fields["flags"]):
                    return False
                if sentinels and int(fields["num-other-sentinels"]) < sentinels - 1:
                    return False
            except redis.RedisError:
                return False
        return True

    def _wait(self, deadline: float, done: object) -> None:
        while not done():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError("the sentinel group did not settle: " + self.sentinels[0].log_tail())
            time.sleep(0.05)

    def primary_port(self) -> int:
        """The primary the first sentinel that answers names."""
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                found = self._ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                return int(found[1])  # type: ignore[index]
        raise RuntimeError("no sentinel answers")

    def client(self, port: int) -> redis.Redis:
        """A plain client to one data node."""
        return admin(port, password=PASSWORD)

    def switchover(self, *, settle_seconds: float = 60.0) -> int:
        """A planned failover; the new primary's port, once every sentinel names it."""
        old = self.primary_port()
        self._ask(self.sentinels[0], "SENTINEL", "FAILOVER", SERVICE)
        deadline = time.monotonic() + settle_seconds
        self._wait(deadline, lambda: self.primary_port() != old)
        new = self.primary_port()
        self._wait(deadline, lambda: self._agreed(new, replicas=0))
        return new

    def crash(self, *, settle_seconds: float = 60.0) -> int:
        """`kill -9` of the primary; the new primary's port, once every sentinel names it."""
        old = self.primary_port()
        os.kill(self.nodes[old].process.pid, signal.SIGKILL)
        self.nodes[old].process.wait()
        deadline = time.monotonic() + settle_seconds
        self._wait(deadline, lambda: self.primary_port() != old)
        new = self.primary_port()
        self._wait(deadline, lambda: self._agreed(new, replicas=0))
        return new

    def restart(self, port: int) -> None:
        """Start the node of `port` again after a crash (the sentinels make it a replica of the new primary)."""
        old = self.nodes[port]
        server = Server(old.directory, port, ["--requirepass", PASSWORD, "--masterauth", PASSWORD, "--save", ""])
        self.nodes[port] = server
        server.wait_until_listening(time.monotonic() + READY_SECONDS)

    def replicated(self, *, replicas: int, settle_seconds: float = 60.0) -> None:
        """Wait until the primary has `replicas` replicas in sync (the demoted primary resynced, say)."""
        deadline = time.monotonic() + settle_seconds

        def synced() -> bool:
            try:
                info = self.client(self.primary_port()).info("replication")
            except redis.RedisError:
                return False
            return int(info.get("connected_slaves", 0)) >= replicas

        self._wait(deadline, synced)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        for server in [*self.sentinels, *self.nodes.values()]:
            server.stop()
