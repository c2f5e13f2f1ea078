"""The load generator: members of one room spread over client processes, one of them the sender.

Each client process (a `multiprocessing` "spawn" child running one asyncio loop) connects its
share of the members, reports, and on "go" its members read while the sender sends. The sender
has client 0 to itself (see ``split_members``). The parent (``ClientPool``) relays how many messages were sent, the
processes drain and report their tallies. Send times travel inside the messages as
``time.perf_counter_ns()``, which on Linux is CLOCK_MONOTONIC: one clock for every process of
the machine, so a receiver in another process computes the latency directly.

Parent <-> client messages (tuples over a Pipe):
  client -> ("progress", connected, failed) ... ("connected", ConnectReport)
  parent -> ("go", Traffic)        (a connect-only run skips to "exit")
  client 0 -> ("sent", SendReport) when the sender has stopped
  parent -> ("expect", sent)       the clients drain until every member has every message
  client -> ("result", DeliveryReport)
  parent -> ("exit",)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench import wire
from bench.config import Traffic
from bench.stats import ReceiverTally, make_payload, parse_payload

PROGRESS_INTERVAL_SECS = 0.5
DRAIN_POLL_SECS = 0.05
# A window slot whose own copy has not come back after this long is given up (the copy was
# dropped), so one lost message cannot stall the saturating sender for the rest of the run.
WINDOW_STALL_SECS = 2.0


class LoadFailed(RuntimeError):
    """A client process died or did not answer in time."""


@dataclass(frozen=True)
class WorkerSpec:
    worker_index: int
    dialect: str  # wire.dialect_for(server kind)
    room: str
    run_id: str  # in every payload and client_id, so stray frames are not counted
    members: tuple[tuple[str, str | None], ...]  # (ws url, token) per member
    has_sender: bool  # this process's first member sends
    connect_concurrency: int
    connect_timeout_secs: float


@dataclass
class ConnectReport:
    connected: int
    failures: dict[str, int]
    connect_secs: list[float]  # per member: open + (for ours) auth + join
    started_ns: int
    finished_ns: int
    sender_connected: bool
    cpu_secs: float = 0.0  # this client process's CPU time over the connect phase (not its start-up)


@dataclass
class SendReport:
    sent: int
    first_send_ns: int | None
    last_send_ns: int | None
    window_evictions: int
    send_failures: int
    error: str | None = None


@dataclass
class DeliveryReport:
    worker_index: int
    members: int
    deliveries: int  # every copy of a message of this run, duplicates included
    unique_deliveries: int
    lost: int
    duplicates: int
    out_of_order: int
    latencies_us: bytes  # array('q') of first-copy latencies
    ack_latencies_us: bytes  # array('q'), ours only: send -> ack at the sender (store + publish)
    first_delivery_ns: int | None
    last_delivery_ns: int | None
    errors: dict[str, int]
    members_closed: int
    complete: bool  # every open member had every message when draining stopped
    drain_secs: float


# --- the client process ----------------------------------------------------------------------


class Member:
    __slots__ = ("closed", "is_sender", "tally", "ws")

    def __init__(self, ws: ClientConnection, is_sender: bool) -> None:
        self.ws = ws
        self.is_sender = is_sender
        self.tally = ReceiverTally()
        self.closed = False


class Window:
    """The saturating sender's in-flight messages: sent, own copy not seen back yet."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_flight: dict[int, float] = {}  # msg_no -> when sent (monotonic secs)
        self.changed = asyncio.Event()
        self.evictions = 0

    def add(self, msg_no: int) -> None:
        self.in_flight[msg_no] = time.monotonic()

    def release(self, msg_no: int) -> None:
        if self.in_flight.pop(msg_no, None) is not None:
            self.changed.set()

    async def wait_for_room(self, deadline: float) -> bool:
        """True once a slot is free; False when ``deadline`` (monotonic secs) passed first."""
        while len(self.in_flight) >= self.size:
            self.changed.clear()
            timeout = min(WINDOW_STALL_SECS, deadline - time.monotonic())
            if timeout <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), timeout)
            except TimeoutError:
                stale_before = time.monotonic() - WINDOW_STALL_SECS
                for msg_no in [n for n, sent_at in self.in_flight.items() if sent_at <= stale_before]:
                    del self.in_flight[msg_no]
                    self.evictions += 1
        return True


class Worker:
    def __init__(self, spec: WorkerSpec, conn: multiprocessing.connection.Connection) -> None:
        self.spec = spec
        self.conn = conn
        self.members: list[Member] = []
        self.readers: list[asyncio.Task] = []
        self.window: Window | None = None
        self.latencies_us = array("q")
        self.ack_latencies_us = array("q")
        self.sent_ns_by_msg: dict[int, int] = {}  # the sender's, until the ack comes back
        self.deliveries = 0
        self.first_delivery_ns: int | None = None
        self.last_delivery_ns: int | None = None
        self.errors: Counter[str] = Counter()
        self.send_failures = 0

    # The hot path: one call per frame any member receives.
    def on_frame(self, member: Member, raw: str | bytes) -> None:
        now_ns = time.perf_counter_ns()
        kind, value, client_id = wire.read_frame(self.spec.dialect, raw)
        if kind == wire.MESSAGE:
            parsed = parse_payload(value, self.spec.run_id) if value is not None else None
            if parsed is None:
                return  # not one of this run's messages
            msg_no, sent_ns = parsed
            self.deliveries += 1
            if self.first_delivery_ns is None:
                self.first_delivery_ns = now_ns
            self.last_delivery_ns = now_ns
            if member.tally.record(msg_no):
                self.latencies_us.append((now_ns - sent_ns) // 1000)
            if member.is_sender and self.window is not None:
                self.window.release(msg_no)
        elif kind == wire.ACK:
            if member.is_sender and client_id:
                sent_ns = self.sent_ns_by_msg.pop(self.msg_no_of(client_id), None)
                if sent_ns is not None:
                    self.ack_latencies_us.append((now_ns - sent_ns) // 1000)
        elif kind == wire.ERROR:
            self.errors[value or "?"] += 1
            if member.is_sender and client_id:
                self.send_failures += 1
                if self.window is not None:  # a refused send: nothing will come back for it
                    self.window.release(self.msg_no_of(client_id))

    def client_id(self, msg_no: int) -> str:
        return f"{self.spec.run_id}-{msg_no}"

    def msg_no_of(self, client_id: str) -> int:
        try:
            return int(client_id.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            return -1

    async def read(self, member: Member) -> None:
        try:
            async for raw in member.ws:
                self.on_frame(member, raw)
        except ConnectionClosed:
            pass
        finally:
            member.closed = True

    async def connect_all(self) -> ConnectReport:
        spec = self.spec
        gate = asyncio.Semaphore(spec.connect_concurrency)
        failures: Counter[str] = Counter()
        connect_secs: list[float] = []
        started_ns = time.perf_counter_ns()
        started_cpu_secs = time.process_time()
        deadline = time.monotonic() + spec.connect_timeout_secs
        sender_connected = False

        async def one(index: int, url: str, token: str | None) -> None:
            nonlocal sender_connected
            async with gate:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failures["connect phase timed out"] += 1
                    return
                began = time.perf_counter()
                try:
                    ws = await asyncio.wait_for(
                        wire.join(url, dialect=spec.dialect, room=spec.room, token=token), remaining
                    )
                except (OSError, TimeoutError, ConnectionClosed, wire.HandshakeFailed) as error:
                    failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                    return
                except Exception as error:  # noqa: BLE001 - websockets' handshake errors (InvalidStatus, ...)
                    failures[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                    return
                connect_secs.append(time.perf_counter() - began)
                member = Member(ws, is_sender=spec.has_sender and index == 0)
                if member.is_sender:
                    sender_connected = True
                    self.members.insert(0, member)
                else:
                    self.members.append(member)
                self.readers.append(asyncio.create_task(self.read(member)))

        async def report_progress() -> None:
            last = None
            while True:
                now = (len(self.members), sum(failures.values()))
                if now != last:
                    self.conn.send(("progress", *now))
                    last = now
                await asyncio.sleep(PROGRESS_INTERVAL_SECS)

        reporter = asyncio.create_task(report_progress())
        await asyncio.gather(*(one(index, url, token) for index, (url, token) in enumerate(spec.members)))
        reporter.cancel()
        self.conn.send(("progress", len(self.members), sum(failures.values())))
        return ConnectReport(
            connected=len(self.members), failures=dict(failures), connect_secs=connect_secs,
            started_ns=started_ns, finished_ns=time.perf_counter_ns(), sender_connected=sender_connected,
            cpu_secs=time.process_time() - started_cpu_secs,
        )  # fmt: skip

    async def send_all(self, traffic: Traffic) -> SendReport:
        sender = self.members[0]
        room, dialect, run_id = self.spec.room, self.spec.dialect, self.spec.run_id
        started = time.monotonic()
        end = started + traffic.duration_secs
        if traffic.mode == "saturate":
            self.window = Window(traffic.window)
        sent = 0
        first_ns = last_ns = None
        while True:
            if self.window is not None:
                if not await self.window.wait_for_room(end):
                    break
            else:
                due = started + sent / traffic.rate_per_sec
                if due >= end:
                    break
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            if time.monotonic() >= end or sender.closed:
                break
            sent_ns = time.perf_counter_ns()
            frame = wire.send_frame(
                dialect, room=room, text=make_payload(run_id, sent, sent_ns), client_id=self.client_id(sent)
            )
            if self.window is not None:
                self.window.add(sent)
            if dialect == "ours":
                self.sent_ns_by_msg[sent] = sent_ns
            try:
                await sender.ws.send(frame)
            except ConnectionClosed:
                break
            first_ns = first_ns or sent_ns
            last_ns = sent_ns
            sent += 1
        evictions = self.window.evictions if self.window is not None else 0
        return SendReport(sent, first_ns, last_ns, evictions, self.send_failures)

    async def send_and_report(self, traffic: Traffic) -> None:
        try:
            report = await self.send_all(traffic)
        except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the run
            report = SendReport(0, None, None, 0, self.send_failures, error=f"{type(error).__name__}: {error}")
        self.conn.send(("sent", report))

    async def drain(self, sent: int, traffic: Traffic) -> DeliveryReport:
        """Wait until every open member has every message, nothing arrived for a while, or time is up."""
        began = time.monotonic()
        began_ns = time.perf_counter_ns()
        deadline = began + traffic.drain_timeout_secs
        idle_ns = int(traffic.drain_idle_secs * 1e9)
        while True:
            complete = all(member.closed or member.tally.has_all(sent) for member in self.members)
            if complete or time.monotonic() >= deadline:
                break
            quiet_since_ns = max(self.last_delivery_ns or 0, began_ns)
            if time.perf_counter_ns() - quiet_since_ns > idle_ns:
                break  # what has not come by now is lost (dropped by the server)
            await asyncio.sleep(DRAIN_POLL_SECS)
        tallies = [member.tally for member in self.members]
        return DeliveryReport(
            worker_index=self.spec.worker_index,
            members=len(self.members),
            deliveries=self.deliveries,
            unique_deliveries=sum(tally.unique for tally in tallies),
            lost=sum(tally.lost(sent) for tally in tallies),
            duplicates=sum(tally.duplicates for tally in tallies),
            out_of_order=sum(tally.out_of_order for tally in tallies),
            latencies_us=self.latencies_us.tobytes(),
            ack_latencies_us=self.ack_latencies_us.tobytes(),
            first_delivery_ns=self.first_delivery_ns,
            last_delivery_ns=self.last_delivery_ns,
            errors=dict(self.errors),
            members_closed=sum(member.closed for member in self.members),
            complete=complete,
            drain_secs=time.monotonic() - began,
        )

    async def command(self) -> tuple:
        """The parent's next message, awaited without blocking the loop (the members keep reading)."""
        loop = asyncio.get_running_loop()
        while not self.conn.poll():
            readable = asyncio.Event()
            loop.add_reader(self.conn.fileno(), readable.set)
            try:
                await readable.wait()
            finally:
                loop.remove_reader(self.conn.fileno())
        return self.conn.recv()

    async def run(self) -> None:
        self.conn.send(("connected", await self.connect_all()))
        command = await self.command()
        if command[0] == "go":
            await self.traffic(command[1])
        # Told to exit (or done): drop every socket at once; the servers are being stopped.
        for member in self.members:
            member.ws.transport.abort()

    async def traffic(self, traffic: Traffic) -> None:
        sender = None
        if self.spec.has_sender and self.members and self.members[0].is_sender:
            sender = asyncio.create_task(self.send_and_report(traffic))
        command = await self.command()
        if command[0] == "expect":
            self.conn.send(("result", await self.drain(command[1], traffic)))
            if sender is not None:
                await sender
            command = await self.command()
        if sender is not None and not sender.done():
            sender.cancel()  # the parent gave up on this run


def worker_main(spec: WorkerSpec, conn: multiprocessing.connection.Connection) -> None:
    asyncio.run(Worker(spec, conn).run())


# --- the parent side -------------------------------------------------------------------------


@dataclass
class ClientPool:
    """The client processes of one run, and the parent's half of the conversation with them."""

    specs: list[WorkerSpec]
    processes: list[multiprocessing.Process] = field(default_factory=list)
    conns: list[multiprocessing.connection.Connection] = field(default_factory=list)

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads, sockets or loops
        for spec in self.specs:
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main, args=(spec, child_end), daemon=True, name=f"bench-client-{spec.worker_index}"
            )
            process.start()
            child_end.close()
            self.processes.append(process)
            self.conns.append(parent_end)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    def _receive(
        self,
        wanted: str,
        *,
        from_indexes: list[int],
        timeout_secs: float,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[int, object]:
        """One ``wanted`` message from each listed client; progress messages go to ``on_progress``."""
        answers: dict[int, object] = {}
        progress: dict[int, tuple[int, int]] = {}
        deadline = time.monotonic() + timeout_secs
        while len(answers) < len(from_indexes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(from_indexes) - set(answers))
                raise LoadFailed(f"clients {missing} did not send {wanted!r} within {timeout_secs:.0f} s")
            waiting = [self.conns[index] for index in from_indexes if index not in answers]
            for conn in multiprocessing.connection.wait(waiting, timeout=min(remaining, 1.0)):
                index = self.conns.index(conn)
                try:
                    message = conn.recv()
                except EOFError:
                    code = self.processes[index].exitcode
                    raise LoadFailed(f"client {index} exited (status {code}) before sending {wanted!r}") from None
                if message[0] == "progress":
                    progress[index] = (message[1], message[2])
                    if on_progress is not None:
                        on_progress(
                            sum(done for done, _ in progress.values()), sum(failed for _, failed in progress.values())
                        )
                elif message[0] == wanted:
                    answers[index] = message[1]
                else:
                    raise LoadFailed(f"client {index} sent {message[0]!r} while {wanted!r} was expected")
        return answers

    def wait_connected(self, *, timeout_secs: float, on_progress: Callable[[int, int], None]) -> list[ConnectReport]:
        everyone = list(range(len(self.conns)))
        answers = self._receive("connected", from_indexes=everyone, timeout_secs=timeout_secs, on_progress=on_progress)
        return [answers[index] for index in everyone]

    def tell_all(self, *message: object) -> None:
        for conn in self.conns:
            conn.send(message)

    def wait_sent(self, *, timeout_secs: float) -> SendReport:
        sender_index = next(index for index, spec in enumerate(self.specs) if spec.has_sender)
        return self._receive("sent", from_indexes=[sender_index], timeout_secs=timeout_secs)[sender_index]

    def wait_results(self, *, timeout_secs: float) -> list[DeliveryReport]:
        everyone = list(range(len(self.conns)))
        answers = self._receive("result", from_indexes=everyone, timeout_secs=timeout_secs)
        return [answers[index] for index in everyone]

    def close(self, timeout_secs: float = 10.0) -> None:
        """Tell every client to exit; terminate (by pid, through its Process) any that does not."""
        for conn in self.conns:
            try:
                conn.send(("exit",))
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + timeout_secs
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(5)
        for conn in self.conns:
            conn.close()


def split_members(
    members: int, *, urls: list[str], tokens: list[str | None], clients: int
) -> list[list[tuple[str, str | None]]]:
    """``clients + 1`` shares of (url, token). Share 0 is the sender alone (member 0: the first
    server process, the first token), so its send schedule never waits behind other members'
    deliveries in its event loop. Receivers 1 .. members-1 go round-robin to shares 1 .. clients,
    each share holding an even part of each server process; tokens go round-robin over members."""
    shares: list[list[tuple[str, str | None]]] = [[(urls[0], tokens[0])]] + [[] for _ in range(clients)]
    for index in range(1, members):
        receiver = index - 1
        url = urls[(receiver // clients) % len(urls)]
        shares[1 + receiver % clients].append((url, tokens[index % len(tokens)]))
    return shares
