"""A local anvil (Foundry) node for tests and demos, started and stopped as a context manager.

    with AnvilNode() as node:
        client = ChainClient(Web3(Web3.HTTPProvider(node.url)))

The binary comes from the npm package ``@foundry-rs/anvil`` (``node_modules``), from the
``ANVIL_BIN`` environment variable or from ``PATH``. The node listens on a free port of
127.0.0.1 only, and the process (with anything it spawned) is killed when the context exits,
whether or not the body raised.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from ledger.errors import ChainError, ConfigurationError

__all__ = ["DEFAULT_CHAIN_ID", "AnvilNode", "find_anvil_binary"]

DEFAULT_CHAIN_ID = 31337

_REPO_ROOT = Path(__file__).resolve().parents[2]
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _npm_binary_candidates(root: Path) -> list[Path]:
    modules = root / "node_modules" / "@foundry-rs"
    system = platform.system().lower()
    arch = _NPM_ARCH.get(platform.machine().lower(), platform.machine().lower())
    exe = "anvil.exe" if system == "windows" else "anvil"
    candidates = [modules / f"anvil-{system}-{arch}" / "bin" / exe]
    if modules.is_dir():  # any other platform package that happens to be installed
        candidates += sorted(p / "bin" / exe for p in modules.glob(f"anvil-{system}-*"))
    candidates.append(root / "node_modules" / ".bin" / exe)
    return candidates


def find_anvil_binary(search_from: Path | None = None) -> Path:
    """Where the anvil executable is; `ConfigurationError` if there is none.

    Looks at ``$ANVIL_BIN``, then the npm package in ``node_modules`` of `search_from` (default:
    the current directory), of its parents and of this repository, then ``PATH``.
    """
    override = os.environ.get("ANVIL_BIN")
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ConfigurationError(f"ANVIL_BIN={override} is not an executable file")
    start = (search_from or Path.cwd()).resolve()
    roots = [start, *start.parents, _REPO_ROOT]
    for root in dict.fromkeys(roots):
        for candidate in _npm_binary_candidates(root):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ConfigurationError(
        "anvil not found: run `npm ci` (package @foundry-rs/anvil), install Foundry, "
        "or set ANVIL_BIN"
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stops the process and its process group (it was started in a session of its own)."""
    if process.poll() is not None:
        return
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGTERM)
        else:  # pragma: no cover - Windows
            process.terminate()
        process.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
        process.wait(timeout=5)


class AnvilNode:
    """An anvil process on a free local port, alive between `start()` and `stop()`.

    `balance_eth` is the balance of each of anvil's unlocked dev accounts; it is raised from
    anvil's 10,000 ETH so a test suite can fund many accounts from the first one.
    """

    def __init__(
        self,
        *,
        binary: Path | str | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        hardfork: str | None = "cancun",
        balance_eth: int | None = 10_000_000,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        attempts: int = 3,
    ) -> None:
        self._binary = Path(binary) if binary is not None else None
        self.chain_id = chain_id
        self.hardfork = hardfork
        self.balance_eth = balance_eth
        self.host = host
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.attempts = max(1, attempts)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], AnvilNode] | None = None

    # ------------------------------------------------------------------ properties

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_anvil_binary()
        return self._binary

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            raise ChainError("anvil is not running")
        return self._port

    @property
    def url(self) -> str:
        """The JSON-RPC endpoint, e.g. ``http://127.0.0.1:38121``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # ------------------------------------------------------------------ life cycle

    def command(self, port: int) -> list[str]:
        """The command line anvil is started with."""
        args = [
            str(self.binary),
            "--host",
            self.host,
            "--port",
            str(port),
            "--chain-id",
            str(self.chain_id),
            "--silent",
        ]
        if self.hardfork:
            args += ["--hardfork", self.hardfork]
        if self.balance_eth is not None:
            args += ["--balance", str(self.balance_eth)]
        return args + list(self.extra_args)

    def start(self) -> AnvilNode:
        """Starts anvil and waits until it answers JSON-RPC (`ChainError` after the timeout)."""
        if self.running:
            return self
        binary = self.binary
        if not binary.is_file():
            raise ConfigurationError(f"anvil binary {binary} does not exist")
        last_error = ""
        for _ in range(self.attempts):
            port = _free_port(self.host)
            log = tempfile.TemporaryFile(prefix="anvil-", suffix=".log")  # noqa: SIM115 - closed in stop()
            process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._process, self._log, self._port = process, log, port
            self._finalizer = weakref.finalize(self, _kill, process)
            if self._wait_ready():
                return self
            last_error = self._read_log()
            self.stop()  # the port may have been taken meanwhile: try another one
        raise ChainError(
            f"anvil did not start within {self.startup_timeout}s: {last_error.strip()}"
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                if self.rpc("eth_chainId", timeout=1.0) is not None:
                    return True
            except (OSError, ValueError, ChainError):
                pass
            time.sleep(0.05)
        return False

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        try:
            self._log.seek(0)
            return self._log.read()[-4000:].decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        """Kills the node (idempotent)."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _kill(process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ JSON-RPC

    def rpc(self, method: str, params: Sequence[object] = (), *, timeout: float = 10.0) -> object:
        """One raw JSON-RPC call (`ChainError` on an error answer)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            f"http://{self.host}:{self._port}",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if not isinstance(answer, dict):
            raise ChainError(f"anvil answered {method} with {answer!r}")
        if "error" in answer:
            raise ChainError(f"anvil {method} failed: {answer['error']}")
        result: object = answer.get("result")
        return result

    def __repr__(self) -> str:
        state = f"url={self.url}" if self.running else "stopped"
        return f"AnvilNode({state}, chain_id={self.chain_id})"
