"""A webhook receiver on 127.0.0.1 for tests: records requests, answers as programmed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and the statuses it will answer next (then 200)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Notified (holding `lock`) each time a request is recorded.
    arrival: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrival = threading.Condition(self.lock)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Until `count` requests have arrived (bounded by timeout)."""
        with self.arrival:
            if not self.arrival.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} webhook requests arrived")
            return list(self.requests)

    async def arrived(self, count: int, timeout: float = 20.0) -> list[Received]:
        """`wait_for` from a coroutine: waits in a thread, so the event loop runs on."""
        return await asyncio.to_thread(self.wait_for, count, timeout)


@contextmanager
def receiving(path: str = "/hook", port: int = 0, delay: float = 0.0) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port unless given) for the duration of the block.

    `delay` makes it answer that many seconds late (a slow receiver).
    """
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if delay:
                time.sleep(delay)
            with receiver.arrival:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.arrival.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
