"""Server-sent events (the WHATWG `text/event-stream` format), read line by line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One dispatched message: its `event` type (`message` when unnamed), `data` (its `data:`
    lines joined by newlines) and the last event id the stream had set when it came."""

    event: str
    data: str
    last_event_id: str | None


class MessageReader:
    """Feeds lines (without their line ends) and returns each message as its blank line ends it.

    Comments (`: keep-alive`) and unknown fields are ignored; a message with no `data:` line is
    not dispatched, though its `id:` still counts (as the standard says)."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Message | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None

    def _dispatch(self) -> Message | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return Message(event, "\n".join(data), self.last_event_id)
