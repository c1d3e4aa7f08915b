"""Connections that cannot lock the server out: a deadline for each request's headers, and a
connection cap that closes idle connections instead of refusing work.

uvicorn alone keeps a connection that never sends a byte open forever, and its concurrency limit
counts such connections: 64 idle sockets from any local process, with no key, made every request a
503 for as long as they stayed open. Here:

- a client has `header_timeout` seconds, from connecting or from its previous response, to send a
  request's complete headers (a silent socket or a slow-loris is closed; a client that waits longer
  than that between requests just reconnects, as HTTP clients do);
- an idle keep-alive connection is closed after `keep_alive` seconds (uvicorn's own timer);
- past `max_connections` open sockets, the connections idle the longest (waiting for headers, or
  between requests) are closed to make room: only connections whose request is being answered are
  never closed. A new connection is turned away only when every other one is busy with a request.

A request under way is limited by the API itself (keys, rate limits, body sizes). For a server that
other machines reach, put a reverse proxy in front (docs/service.md).
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = 10.0
    max_connections: int = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._wait_for_headers()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived
            self._stop_timer()

    def on_response_complete(self) -> None:
        self._wait_for_headers()  # first: the call below may already start a pipelined request
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    # -- the header deadline ---------------------------------------------------------------------------
    def _wait_for_headers(self) -> None:
        self._stop_timer()
        self.idle_since = self.loop.time()
        self._header_timer = self.loop.call_later(self.header_timeout, self._close_idle)

    def _stop_timer(self) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _close_idle(self) -> None:
        self._header_timer = None
        if self.idle and not self.transport.is_closing():
            self.transport.close()

    @property
    def idle(self) -> bool:
        """No request being answered: waiting for the first headers, or between requests."""
        return self.cycle is None or self.cycle.response_complete

    # -- the cap ---------------------------------------------------------------------------------------
    def _make_room(self) -> None:
        open_ = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and not c.transport.is_closing()]
        idle = sorted((c for c in open_ if c is not self and c.idle), key=lambda c: c.idle_since)
        excess = len(open_) - self.max_connections
        for conn in idle[:excess]:
            conn.transport.close()
        if excess > len(idle):  # every other connection is answering a request
            self.transport.close()


def protocol(header_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn's `http=` with these limits."""
    return type("VultusH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": float(header_timeout), "max_connections": int(max_connections)})


def usable_connections(wanted: int) -> int:
    """`wanted`, or fewer if the process may not open that many files: a cap above the file limit
    would never be reached, and running out of descriptors refuses everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + 256:
        target = wanted + 256 if hard == resource.RLIM_INFINITY else min(hard, wanted + 256)
        try:  # raising the soft limit up to the hard one needs no privilege
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(16, min(wanted, soft - 256)) if soft != resource.RLIM_INFINITY else wanted


def uvicorn_options(header_timeout: float, keep_alive: float, max_connections: int) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` that apply these guards (and no 503-ing concurrency cap)."""
    return {"http": protocol(header_timeout, usable_connections(max_connections)),
            "timeout_keep_alive": keep_alive, "limit_concurrency": None}
