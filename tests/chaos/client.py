"""A reference resilient client for the chat protocol: the Python twin of the JS widget.

What it does is what ARCHITECTURE.md ("Delivery guarantees") asks of every client:

- an **outbox**: every typed message gets a ``client_id`` and stays in the outbox until the
  server acks it; the whole outbox is sent again after every (re)join, in typing order;
- **resume**: every (re)join sends ``after_seq`` = the highest seq the client shows;
  ``joined.resumed`` history is appended, a non-resumed history replaces the view;
- **exactly once, in order**: messages are kept by seq; a seq already shown is dropped, a seq
  past a hole waits until the hole is filled and is then shown in order;
- **gap detection**: a live seq more than one past the last shown one, and ``pong.rooms[room]``
  (or ``joined.latest_seq``) above the last shown seq each make it join again with ``after_seq``;
- **dead-connection detection**: a ``ping`` every ``ping_interval`` seconds; with no frame at
  all for ``dead_after`` seconds the TCP connection is aborted and a new one opened;
- **reconnect** with capped exponential backoff and jitter; with several ``urls`` (the processes
  behind one address), a connection that fails goes to the next one, as a load balancer would.

One client, one room, one asyncio loop. Everything it saw is kept for the test's verdict:
``view()`` is what it shows, ``typed`` every message typed on it, ``acked`` every ack received.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.identity_client import IdentityRefused, fetch_token

# Error codes after which a send is worth repeating (the protocol says "sending again may work").
RETRYABLE_SEND_ERRORS = frozenset({"server_error", "rate_limited", "slow_mode"})
# Server events this client has no use for (presence and the like are for people, not verdicts).
IGNORED_EVENTS = frozenset({"left", "older", "presence", "typing", "room_state", "deleted"})
# At most one gap-filling join per this many seconds on a connection.
MIN_REJOIN_INTERVAL = 0.25
# A join not answered within this many seconds no longer blocks the next one.
JOIN_ANSWER_TIMEOUT = 3.0
_client_ids = itertools.count(1)


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def http_base_for(ws_url: str) -> str:
    """ws://host:port/ws/ -> http://host:port (the identity API is on the same server)."""
    scheme, rest = ws_url.split("://", 1)
    return f"{'https' if scheme == 'wss' else 'http'}://{rest.split('/', 1)[0]}"


@dataclass(frozen=True)
class Shown:
    """One message as the client shows it."""

    seq: int
    client_id: str | None
    author: str
    text: str


@dataclass
class ClientView:
    """A consistent copy of a client's state, for assertions (see verify.py)."""

    label: str
    shown: list[Shown]
    typed: dict[str, str]  # client_id -> text, in typing order
    acked: dict[str, int]  # client_id -> seq from its ack
    outbox: list[str]  # client_ids typed but not acked yet
    failed: dict[str, str]  # client_id -> error code the server refused it with
    errors: list[dict]  # every `error` event received
    stats: dict[str, int]


@dataclass
class _Stats:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    dead_connections: int = 0
    joins: int = 0
    resumed_joins: int = 0
    replaced_views: int = 0
    gap_rejoins: int = 0
    duplicate_frames_dropped: int = 0
    resends: int = 0
    failovers: int = 0


@dataclass
class _Connection:
    websocket: object
    last_frame_at: float
    joined: bool = False
    join_in_flight: bool = False
    last_join_at: float = 0.0
    tasks: list[asyncio.Task] = field(default_factory=list)


class ChaosClient:
    def __init__(
        self,
        *,
        label: str,
        url: str,
        origin: str,
        room: str,
        name: str | None = None,
        ping_interval: float = 1.0,
        dead_after: float = 3.5,
        open_timeout: float = 3.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 1.0,
        verbose: bool = True,
        urls: list[str] | None = None,
    ) -> None:
        self.label = label
        self.url = url
        # Where a connection may go, ``url`` first; a failed connect moves on to the next.
        self.urls = [url, *(other for other in urls or () if other != url)]
        self._url_index = 0
        self.origin = origin
        self.room = room
        self.name = name or label
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.open_timeout = open_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.verbose = verbose

        self._shown: list[Shown] = []  # display order; by construction seqs are increasing
        self._waiting: dict[int, Shown] = {}  # received past a hole, shown once the hole fills
        self._start_at = 1  # the seq the view starts at (a non-resumed join may start it later)
        self.typed: OrderedDict[str, str] = OrderedDict()
        self.outbox: OrderedDict[str, str] = OrderedDict()
        self.acked: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.errors: list[dict] = []
        self.stats = _Stats()
        self._connection: _Connection | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.token: str | None = None  # fetched over HTTP on start, like the widget's identity

    # --- what the test calls -------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"client-{self.label}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        connection = self._connection
        if connection is not None:
            self._abort(connection)

    @property
    def last_seq(self) -> int:
        return self._shown[-1].seq if self._shown else self._start_at - 1

    @property
    def is_joined(self) -> bool:
        return self._connection is not None and self._connection.joined

    def type(self, text: str) -> str:
        """Type a message: it goes to the outbox, and out at once when the room is joined."""
        client_id = self._new_client_id()
        self.typed[client_id] = text
        self.outbox[client_id] = text
        self._send_now(client_id)
        return client_id

    def _new_client_id(self) -> str:
        return f"{self.label}-{next(_client_ids)}-{random.getrandbits(32):08x}"

    def _send_now(self, client_id: str) -> None:
        """Send an outbox entry at once when the room is joined (else the next join resends it)."""
        connection = self._connection
        if connection is not None and connection.joined:
            connection.tasks.append(asyncio.get_running_loop().create_task(self._send_one(connection, client_id)))

    def view(self) -> ClientView:
        return ClientView(
            label=self.label,
            shown=list(self._shown),
            typed=dict(self.typed),
            acked=dict(self.acked),
            outbox=list(self.outbox),
            failed=dict(self.failed),
            errors=list(self.errors),
            stats=dict(vars(self.stats)),
        )

    # --- connection life cycle -------------------------------------------------------------

    def _say(self, message: str) -> None:
        if self.verbose:
            log(f"{self.label}: {message}")

    async def _run(self) -> None:
        while self.token is None and not self._stopping:
            try:
                identity = await asyncio.to_thread(fetch_token, http_base_for(self.url), self.name)
                self.token = identity["token"]
            except (OSError, IdentityRefused) as error:
                self._say(f"identity request failed ({error}); retrying")
                await asyncio.sleep(self.backoff_cap)
        failures = 0
        while not self._stopping:
            url = self.urls[self._url_index]
            try:
                websocket = await websockets.connect(
                    url,
                    origin=self.origin,
                    open_timeout=self.open_timeout,
                    ping_interval=None,
                    close_timeout=1,
                    max_size=None,
                )
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self.stats.connect_failures += 1
                failures += 1
                if len(self.urls) > 1:
                    self._url_index = (self._url_index + 1) % len(self.urls)
                    self.stats.failovers += 1
                delay = self._backoff(failures)
                if failures == 1 or failures % 5 == 0:
                    self._say(
                        f"connect to {url} failed ({type(error).__name__}: {error}); retry #{failures} in {delay:.2f} s"
                    )
                await asyncio.sleep(delay)
                continue
            self.stats.connects += 1
            connection = _Connection(websocket=websocket, last_frame_at=time.monotonic())
            self._connection = connection
            self._say(f"connected to {url} (#{self.stats.connects}), last shown seq {self.last_seq}")
            reason = await self._serve(connection)
            self._connection = None
            self.stats.disconnects += 1
            self._abort(connection)
            # Only a connection that got as far as `joined` resets the backoff: a server that
            # accepts and then drops every socket must not be hammered.
            failures = 0 if connection.joined else failures + 1
            delay = self._backoff(failures)
            self._say(f"disconnected: {reason}; reconnecting in {delay:.2f} s")
            if not self._stopping:
                await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        """Capped exponential backoff with jitter, in seconds."""
        return min(self.backoff_cap, self.backoff_base * 2**failures) * random.uniform(0.5, 1.0)

    async def _serve(self, connection: _Connection) -> str:
        """Runs one connection until it closes or is found dead; returns why it ended."""
        pinger = asyncio.get_running_loop().create_task(self._pinger(connection), name=f"ping-{self.label}")
        connection.tasks.append(pinger)
        try:
            async for frame in connection.websocket:
                connection.last_frame_at = time.monotonic()
                await self._handle(connection, json.loads(frame))
            return f"closed by the server ({connection.websocket.close_code})"
        except ConnectionClosed as error:
            return f"connection closed ({error})"
        except OSError as error:
            return f"socket error ({error})"
        except Exception as error:  # noqa: BLE001 - a client bug or a malformed frame: make it visible
            self.errors.append({"type": "error", "code": "client:crash", "message": repr(error)})
            return f"client crashed handling a frame: {error!r}"
        finally:
            for task in connection.tasks:
                task.cancel()

    async def _pinger(self, connection: _Connection) -> None:
        """Pings, and aborts the TCP connection once nothing at all has arrived for dead_after s."""
        while True:
            await asyncio.sleep(self.ping_interval / 2)
            silent_for = time.monotonic() - connection.last_frame_at
            if silent_for > self.dead_after:
                self.stats.dead_connections += 1
                self._say(f"no frame for {silent_for:.1f} s: connection is dead, aborting it")
                self._abort(connection)
                return
            if connection.joined:
                await self._send_frame(connection, {"type": "ping"})
            await asyncio.sleep(self.ping_interval / 2)

    def _abort(self, connection: _Connection) -> None:
        transport = getattr(connection.websocket, "transport", None)
        if transport is not None:
            transport.abort()

    async def _send_frame(self, connection: _Connection, event: dict) -> None:
        try:
            await connection.websocket.send(json.dumps(event))
        except (ConnectionClosed, OSError):
            pass  # the reader notices and reconnects; the outbox still holds any send

    async def _join(self, connection: _Connection) -> None:
        connection.join_in_flight = True
        connection.last_join_at = time.monotonic()
        self.stats.joins += 1
        await self._send_frame(connection, self._join_frame())

    def _join_frame(self) -> dict:
        return {"type": "join", "room": self.room, "after_seq": self.last_seq}

    async def _send_one(self, connection: _Connection, client_id: str) -> None:
        if client_id in self.outbox:
            await self._send_frame(connection, self._outbound(client_id))

    def _outbound(self, client_id: str) -> dict:
        """The frame that (re)sends outbox entry ``client_id``."""
        return {"type": "send", "room": self.room, "text": self.outbox[client_id], "client_id": client_id}

    # --- inbound frames --------------------------------------------------------------------

    async def _handle(self, connection: _Connection, event: dict) -> None:
        match event.get("type"):
            case "ready":
                await self._send_frame(connection, {"type": "auth", "token": self.token})
            case "authenticated":
                await self._join(connection)
            case "token":
                self.token = event["token"]
            case "joined":
                await self._on_joined(connection, event)
            case "message":
                self._receive(event)
                await self._rejoin_if_gap(connection, "live seq past a hole")
            case "ack":
                self.outbox.pop(event["client_id"], None)
                self.acked[event["client_id"]] = event["seq"]
                # No gap check here: the ack is written straight to the socket and may overtake
                # the message's own copy on the live path. pong.rooms catches a lost one.
            case "pong":
                latest = (event.get("rooms") or {}).get(self.room)
                if connection.joined and isinstance(latest, int) and latest > self.last_seq:
                    await self._rejoin_if_gap(connection, f"pong says latest seq {latest}", force=True)
            case "error":
                self.errors.append(event)
                client_id = event.get("client_id")
                self._say(f"error {event.get('code')}: {event.get('message')} (client_id {client_id})")
                if client_id in self.outbox and event.get("code") not in RETRYABLE_SEND_ERRORS:
                    self.failed[client_id] = event.get("code", "?")
                    self.outbox.pop(client_id)
                elif client_id in self.outbox:
                    delay = max(0.5, float(event.get("retry_after_secs") or 0))
                    asyncio.get_running_loop().call_later(delay, self._resend_later, connection, client_id)
            case kind if kind in IGNORED_EVENTS:
                pass
            case other:
                self.errors.append({"type": "error", "code": "client:unknown_event", "message": repr(other)})

    def _resend_later(self, connection: _Connection, client_id: str) -> None:
        if self._connection is connection and connection.joined and client_id in self.outbox:
            self.stats.resends += 1
            connection.tasks.append(asyncio.get_running_loop().create_task(self._send_one(connection, client_id)))

    async def _on_joined(self, connection: _Connection, event: dict) -> None:
        first_join = not connection.joined
        connection.joined = True
        connection.join_in_flight = False
        history = event.get("history", [])
        if event.get("resumed"):
            self.stats.resumed_joins += 1
        elif self._shown or self._waiting:
            # The server could not resume from our seq: the protocol says replace the view.
            self.stats.replaced_views += 1
            self._say(f"joined with resumed=false after seq {self.last_seq}: replacing the view")
            self._shown.clear()
            self._waiting.clear()
        if not event.get("resumed") and not self._shown:
            # A fresh (or replaced) view starts at the first history message: older ones exist
            # only behind "load older", which this client does not use.
            latest = event.get("latest_seq", 0)
            self._start_at = history[0]["seq"] if history else (latest if isinstance(latest, int) else 0) + 1
        for message in history:
            self._receive(message)
        if first_join:
            self._say(
                f"joined (resumed={event.get('resumed')}, {len(history)} in history, "
                f"latest_seq {event.get('latest_seq')}); resending {len(self.outbox)} unacked"
            )
            for client_id in list(self.outbox):
                if client_id in self.outbox:
                    self.stats.resends += 1
                    await self._send_one(connection, client_id)
        latest = event.get("latest_seq")
        if isinstance(latest, int) and latest > self.last_seq:
            await self._rejoin_if_gap(connection, f"joined says latest seq {latest}", force=True)
        else:
            await self._rejoin_if_gap(connection, "hole left after join")

    def _receive(self, message: dict) -> None:
        seq = message["seq"]
        if seq <= self.last_seq or seq in self._waiting:  # shown already (the view has no holes)
            self.stats.duplicate_frames_dropped += 1
            return
        self._waiting[seq] = Shown(seq, message.get("client_id"), message.get("author", ""), message.get("text", ""))
        # Show everything that now follows on without a hole.
        next_seq = self.last_seq + 1
        while next_seq in self._waiting:
            shown = self._waiting.pop(next_seq)
            self._shown.append(shown)
            next_seq += 1

    async def _rejoin_if_gap(self, connection: _Connection, why: str, *, force: bool = False) -> None:
        if not connection.joined:
            return
        if connection.join_in_flight and time.monotonic() - connection.last_join_at < JOIN_ANSWER_TIMEOUT:
            return
        if time.monotonic() - connection.last_join_at < MIN_REJOIN_INTERVAL:
            return  # bounded: the next live message, ack or pong asks again
        if self._has_gap() or force:
            self.stats.gap_rejoins += 1
            self._say(f"gap after seq {self.last_seq} ({why}): joining again with after_seq")
            await self._join(connection)

    def _has_gap(self) -> bool:
        """Something the view is known to lack (a seq past a hole)."""
        return bool(self._waiting)


# --- protocol version 3: the conversation (edits, deletions, reactions, replies) ------------------


@dataclass
class ConversationView:
    """A consistent copy of a version-3 client's state (verify.judge_conversation reads it)."""

    label: str
    visitor: str | None  # the identity's public id (`authenticated.visitor`)
    start_at: int  # the first seq of its view
    seqs: list[int]  # the seqs it shows, in display order (tombstones included)
    messages: dict[int, dict]  # seq -> the message's state as shown (the highest rev received)
    rev_done: int  # every change up to this rev is in its view (`join.after_rev`)
    revs_ahead: list[int]  # revs received past rev_done (a gap while not empty)
    typed: dict[str, str]  # client_id -> text of every message sent
    acked: dict[str, int]  # client_id -> seq, for messages
    changes: dict[str, dict]  # client_id -> the change's frame (edit, delete, react), in order
    change_acks: dict[str, int]  # client_id -> rev, for changes
    outbox: list[str]  # client_ids (messages and changes) not acked yet
    failed: dict[str, str]  # client_id -> error code the server refused it with
    errors: list[dict]
    stats: dict[str, int]


class ConversationClient(ChaosClient):
    """The reference client speaking protocol version 3, as the widget does (timeline.js).

    On top of ChaosClient: it asks for ``/ws/?protocol=3``; keeps every message in its current
    state, replacing it with a `changed` (or any copy) only when the copy's ``rev`` is higher;
    keeps ``rev_done``, the end of the unbroken run of revs received (a `joined` brings it to
    ``latest_rev``: its history and ``changes`` carry every change up to it); and joins again with
    ``after_seq``, ``after_rev`` and ``first_seq`` when a rev past the run arrives or ``pong.revs``
    is ahead of it. Edits, deletions and reactions go through the outbox with their own client_id,
    like messages, and are resent after every (re)join until acked.
    """

    def __init__(self, *, url: str, urls: list[str] | None = None, **options) -> None:
        super().__init__(url=self.v3_url(url), urls=[self.v3_url(other) for other in urls or ()], **options)
        self.visitor: str | None = None
        self.server_protocol: int | None = None
        self.reaction_emoji: list[str] = []
        self._state: dict[int, dict] = {}  # seq -> current state (highest rev received)
        self.rev_done = 0
        self._revs_ahead: set[int] = set()
        self._rev_parts: dict[int, set[int]] = {}  # rev -> seqs of its `changed` parts come so far
        self._known_latest_rev = 0
        self._frames: dict[str, dict] = {}  # client_id -> frame, for sends and changes
        self.changes: OrderedDict[str, dict] = OrderedDict()
        self.change_acks: dict[str, int] = {}
        self.counts = {
            "sends": 0,
            "replies": 0,
            "edits": 0,
            "deletes": 0,
            "reacts_on": 0,
            "reacts_off": 0,
            "changed_events": 0,
            "stale_copies_ignored": 0,
            "revs_past_run": 0,
            "resume_changes": 0,
        }

    @staticmethod
    def v3_url(url: str) -> str:
        return url if "protocol=" in url else f"{url}{'&' if '?' in url else '?'}protocol=3"

    # --- what the scenario calls -----------------------------------------------------------

    def send(self, text: str, *, reply_to: int | None = None) -> str:
        client_id = self._new_client_id()
        frame = {"type": "send", "room": self.room, "text": text, "client_id": client_id}
        if reply_to is not None:
            frame["reply_to"] = reply_to
            self.counts["replies"] += 1
        self.counts["sends"] += 1
        self.typed[client_id] = text
        return self._queue(client_id, frame, text)

    def edit(self, seq: int, text: str) -> str:
        self.counts["edits"] += 1
        return self._change({"type": "edit", "room": self.room, "seq": seq, "text": text})

    def delete(self, seq: int) -> str:
        self.counts["deletes"] += 1
        return self._change({"type": "delete", "room": self.room, "seq": seq})

    def react(self, seq: int, emoji: str, *, on: bool) -> str:
        self.counts["reacts_on" if on else "reacts_off"] += 1
        return self._change({"type": "react", "room": self.room, "seq": seq, "emoji": emoji, "on": on})

    def shown_messages(self) -> list[dict]:
        """The messages it shows (not deleted), in seq order, in their current state."""
        return [self._state[shown.seq] for shown in self._shown if not self._state[shown.seq].get("deleted")]

    def conversation_view(self) -> ConversationView:
        return ConversationView(
            label=self.label, visitor=self.visitor, start_at=self._start_at,
            seqs=[shown.seq for shown in self._shown],
            messages={shown.seq: dict(self._state[shown.seq]) for shown in self._shown},
            rev_done=self.rev_done, revs_ahead=sorted(self._revs_ahead), typed=dict(self.typed),
            acked=dict(self.acked), changes=dict(self.changes), change_acks=dict(self.change_acks),
            outbox=list(self.outbox), failed=dict(self.failed), errors=list(self.errors),
            stats={**vars(self.stats), **self.counts},
        )  # fmt: skip

    def _change(self, frame: dict) -> str:
        client_id = self._new_client_id()
        frame["client_id"] = client_id
        self.changes[client_id] = frame
        return self._queue(client_id, frame, f"{frame['type']} {frame['seq']}")

    def _queue(self, client_id: str, frame: dict, description: str) -> str:
        self._frames[client_id] = frame
        self.outbox[client_id] = description
        self._send_now(client_id)
        return client_id

    # --- protocol --------------------------------------------------------------------------

    def _outbound(self, client_id: str) -> dict:
        return self._frames[client_id]

    def _join_frame(self) -> dict:
        frame = super()._join_frame()
        if self.last_seq > 0:  # as the widget: after_rev and first_seq only with a view to resume
            frame.update(after_rev=self.rev_done, first_seq=self._start_at)
        return frame

    def _receive(self, message: dict) -> None:
        seq = message["seq"]
        shown = self._state.get(seq)
        if shown is None or message.get("rev", 0) > shown.get("rev", 0):
            self._state[seq] = message
        elif message.get("rev", 0) < shown.get("rev", 0):
            self.counts["stale_copies_ignored"] += 1
        super()._receive(message)

    def _see_rev(self, rev: int) -> None:
        if rev > self.rev_done:
            self._revs_ahead.add(rev)
        while self.rev_done + 1 in self._revs_ahead:
            self._revs_ahead.discard(self.rev_done + 1)
            self.rev_done += 1

    def _has_gap(self) -> bool:
        return super()._has_gap() or bool(self._revs_ahead) or self._known_latest_rev > self.rev_done

    async def _handle(self, connection: _Connection, event: dict) -> None:
        match event.get("type"):
            case "ready":
                self.server_protocol = event.get("protocol")
                self.reaction_emoji = list(event.get("reaction_emoji") or [])
                if self.server_protocol != 3:
                    self.errors.append(
                        {
                            "type": "error",
                            "code": "client:protocol",
                            "message": f"ready.protocol is {self.server_protocol}, not 3",
                        }
                    )
                await super()._handle(connection, event)
            case "authenticated":
                self.visitor = event.get("visitor")
                await super()._handle(connection, event)
            case "changed":
                self.counts["changed_events"] += 1
                self._receive(event["message"])
                # As the widget: a rev of several parts (a deletion and the replies quoting it) is
                # had once each part's message has come; a copy for the sender alone (0) never counts.
                parts = event.get("parts", 1)
                if parts and event["rev"] > self.rev_done:
                    seqs = self._rev_parts.setdefault(event["rev"], set())
                    seqs.add(event["message"]["seq"])
                    if len(seqs) >= parts:
                        del self._rev_parts[event["rev"]]
                        self._see_rev(event["rev"])
                if self._revs_ahead:
                    self.counts["revs_past_run"] += 1
                await self._rejoin_if_gap(connection, f"rev {event['rev']} past rev {self.rev_done}")
            case "ack" if "rev" in event:
                self.outbox.pop(event["client_id"], None)
                self.change_acks[event["client_id"]] = event["rev"]
            case "pong":
                await super()._handle(connection, event)
                latest_rev = (event.get("revs") or {}).get(self.room)
                if isinstance(latest_rev, int):
                    self._known_latest_rev = max(self._known_latest_rev, latest_rev)
                    if connection.joined and latest_rev > self.rev_done:
                        await self._rejoin_if_gap(connection, f"pong says latest rev {latest_rev}", force=True)
            case _:
                await super()._handle(connection, event)

    async def _on_joined(self, connection: _Connection, event: dict) -> None:
        # Every change up to latest_rev is in this answer: a resume's `changes` (the messages it
        # shows that changed since after_rev) and history (the messages after after_seq, in their
        # current state), or a whole new view in its current state.
        latest_rev = event.get("latest_rev")
        if isinstance(latest_rev, int):
            self._known_latest_rev = max(self._known_latest_rev, latest_rev)
            self.rev_done = max(self.rev_done, latest_rev)
            self._revs_ahead = {rev for rev in self._revs_ahead if rev > self.rev_done}
            self._see_rev(self.rev_done)
        for message in event.get("changes") or []:
            self.counts["resume_changes"] += 1
            self._receive(message)
        await super()._on_joined(connection, event)
