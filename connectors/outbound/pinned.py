"""Outbound connections under the egress policy (issue 12, item 3).

The name is resolved once, the policy (hub/services/egress/rules.py, hub/domain/egress.py)
picks one of its addresses, and the connection goes to that address and nowhere else:
no second lookup that a rebinding DNS server could answer differently.

* HTTP: `pinned_client` is an httpx client whose every connection, redirects included,
  goes through `PinnedBackend`, so each hop is checked. The URL keeps its name, so the
  Host header, TLS SNI and certificate checks are the name's. It ignores proxy settings
  from the environment (a proxy would be checked instead of the destination).
* SMTP: `PinnedSMTP` connects to the chosen address; STARTTLS still uses the name.
"""

from __future__ import annotations

import asyncio
import functools
import smtplib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

# (tenant id, host, port) -> the address to connect to; raises EgressRefused, or
# OSError when the name does not resolve. EgressService.destination is one.
Destination = Callable[[str | None, str, int], Awaitable[str]]
Pin = Callable[[str, int], Awaitable[str]]


class SystemResolver:
    """The Resolver port: the system's resolver (getaddrinfo), off the event loop."""

    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only where `pin` says."""

    def __init__(self, pin: Pin) -> None:
        self._pin = pin
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                address = await self._pin(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"looking up {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not egress destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every pinned client (loading the CA bundle is slow)."""
    return httpx.create_ssl_context(trust_env=False)


class PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, pin: Pin) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # httpx takes no network backend, so the pool it built is replaced by one that
        # connects through PinnedBackend (httpx 0.28). If that ever stopped taking effect,
        # tests/e2e/test_egress_ssrf.py would see its loopback listener reached.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(), network_backend=PinnedBackend(pin)
        )


def pinned_client(
    pin: Pin, *, timeout: float, follow_redirects: bool = False, max_redirects: int = 3
) -> httpx.AsyncClient:
    """An httpx client for one caller's policy. Do not share it between tenants: a
    pooled connection would carry one tenant's check over to another."""
    return httpx.AsyncClient(
        transport=PinnedTransport(pin),
        timeout=timeout,
        trust_env=False,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
    )


def tenant_pin(destination: Destination, tenant: str | None) -> Pin:
    async def pin(host: str, port: int) -> str:
        return await destination(tenant, host, port)

    return pin


class PinnedSMTP(smtplib.SMTP):
    """smtplib connected to the address the policy chose; `connect(name, port)` keeps the
    name, so STARTTLS checks the server's certificate against it."""

    def __init__(self, address: str, timeout: float) -> None:
        self._address = address
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout, self.source_address)


def safe_url(url: str | httpx.URL) -> str:
    """A URL for messages: no credentials, query or fragment."""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return "(an invalid URL)"
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))
