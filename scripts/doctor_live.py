"""The doctor's live checks (`python scripts/doctor.py --site-url URL`): the deployed site and the
backend, over the network, the way a visitor's browser meets them.

  live.site             the site answers 200 (https, except on a loopback address for tests)
  live.site_csp         its CSP meta's connect-src names this backend: the published build
                        points at the backend being checked
  live.health           GET <backend>/healthz answers 200 with status "ok"
  live.cors             a preflight from the site's origin is allowed (ALLOWED_ORIGINS)
  live.cors_foreign     a preflight from a made-up origin is not
  live.websocket        the WebSocket handshake from the site's origin is accepted
  live.websocket_foreign  and from a made-up origin refused (403)
  live.round_trip       a token (challenge + proof of work), auth, join the room, send a message
                        and see it come back (ack + broadcast), in milliseconds

The network calls (``http_request``, ``websocket_handshake``, ``message_round_trip``) return
plain outcome records; the ``check_*`` functions turn those into findings without any I/O.
The token request mirrors tests/identity_client.py and the widget (ARCHITECTURE.md, "Identity").
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from backchannel import __version__  # the checkout's version (no Django setup)
from chat.challenge import solve  # the server's own proof of work (pure, no Django setup)
from scripts.doctor_findings import (
    BackendPlatform,
    Finding,
    fail,
    is_loopback,
    ok,
    origin_of,
    progress,
    skip,
    warn,
)

# An origin no real site has (.invalid is reserved, RFC 2606): the backend must refuse it.
FOREIGN_ORIGIN = "https://doctor-foreign-origin.invalid"
DOCTOR_DISPLAY_NAME = "Doctor check"
MAX_PAGE_BYTES = 2 * 1024 * 1024
MAX_PROOF_OF_WORK_BITS = 26  # about 67 million hashes: past this the doctor would seem to hang
BACKEND_LIVE_CHECKS = ("live.cors", "live.cors_foreign", "live.websocket", "live.websocket_foreign", "live.round_trip")


# --- Where to connect ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveTarget:
    site_url: str
    site_origin: str  # what a browser sends as Origin from the site's pages
    backend_http_url: str  # http(s)://host[:port][/prefix], no trailing slash
    backend_socket_url: str  # ws(s)://host[:port][/prefix]/ws/
    backend_socket_origin: str  # ws(s)://host[:port], as the CSP's connect-src names it

    @property
    def backend_host(self) -> str:
        return urlsplit(self.backend_http_url).hostname or ""


def live_target(site_url: str, backend_url: str) -> LiveTarget:
    """Where the live checks connect; ValueError says what is wrong with either URL."""
    site_origin = origin_of(site_url)
    if site_origin is None or urlsplit(site_url).scheme not in ("http", "https"):
        raise ValueError(f"--site-url {site_url!r} is not an http(s) URL")
    parts = urlsplit(backend_url.strip())
    schemes = {"wss": ("https", "wss"), "https": ("https", "wss"), "ws": ("http", "ws"), "http": ("http", "ws")}
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"backend URL {backend_url!r} is not wss://host (or https://host)")
    http_scheme, socket_scheme = schemes[parts.scheme]
    prefix = parts.path.rstrip("/")
    return LiveTarget(
        site_url=site_url,
        site_origin=site_origin,
        backend_http_url=f"{http_scheme}://{parts.netloc}{prefix}",
        backend_socket_url=f"{socket_scheme}://{parts.netloc}{prefix}/ws/",
        backend_socket_origin=origin_of(f"{socket_scheme}://{parts.netloc}") or "",
    )


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    url: str
    status: int | None  # None: no HTTP answer at all (see error)
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""
    error: str | None = None  # why there was no answer: refused, timed out, name unknown, TLS
    final_url: str = ""  # after redirects

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A proxy from the environment must not stand between the doctor and a loopback test server.
    if is_loopback(urlsplit(url).hostname):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def describe_network_error(error: BaseException, timeout_secs: float) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout_secs:g} s"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def http_request(
    method: str, url: str, *, timeout_secs: float, headers: Mapping[str, str] | None = None, json_body: object = None
) -> HttpResult:
    data = json.dumps(json_body).encode() if json_body is not None else None
    request_headers = dict(headers or {})
    if data is not None:
        request_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=request_headers, method=method)
    try:
        with _opener(url).open(request, timeout=timeout_secs) as response:
            return HttpResult(
                url,
                response.status,
                _lower(response.headers),
                response.read(MAX_PAGE_BYTES),
                final_url=response.geturl(),
            )
    except urllib.error.HTTPError as error:  # an answer, just not a 2xx one
        return HttpResult(url, error.code, _lower(error.headers), error.read(MAX_PAGE_BYTES), final_url=url)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return HttpResult(url, None, error=describe_network_error(error, timeout_secs), final_url=url)


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()} if headers else {}


# --- The site ------------------------------------------------------------------------------------


class _CspMetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.policy: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): value or "" for name, value in attrs}
        if tag == "meta" and attributes.get("http-equiv", "").lower() == "content-security-policy":
            self.policy = self.policy or attributes.get("content", "")


def connect_sources(html: str) -> list[str] | None:
    """The connect-src sources of the page's CSP meta; None when the page has no CSP meta."""
    parser = _CspMetaParser()
    parser.feed(html)
    if parser.policy is None:
        return None
    for directive in parser.policy.split(";"):
        words = directive.split()
        if words and words[0].lower() == "connect-src":
            return words[1:]
    return []


def check_site_page(target: LiveTarget, page: HttpResult) -> list[Finding]:
    host = urlsplit(target.site_url).hostname
    if urlsplit(target.site_url).scheme != "https" and not is_loopback(host):
        plain = fail(
            "live.site",
            f"{target.site_url} is plain http: the backend refuses plain-http site origins "
            "in production (backchannel.E003), and visitors' tokens would travel in clear",
            f"use https://{host}/ (GitHub: Settings -> Pages -> Enforce HTTPS)",
        )
        return [plain, skip("live.site_csp", "not checked: the site is not https")]
    if page.status is None:
        return [
            fail(
                "live.site",
                f"{target.site_url} is unreachable: {page.error}",
                f"check the DNS record of {host} (a CNAME to <user>.github.io) and the repository's Pages "
                "settings (custom domain, Enforce HTTPS)",
            ),
            skip("live.site_csp", "not checked: the site did not answer"),
        ]
    if page.status != 200:
        return [
            fail(
                "live.site",
                f"{target.site_url} answered HTTP {page.status}",
                "has the deploy run? Look at the deploy stage's log on Travis; the pages branch must hold index.html",
            ),
            skip("live.site_csp", f"not checked: HTTP {page.status}"),
        ]
    findings = [ok("live.site", f"{target.site_url} answers 200 ({len(page.body)} bytes)")]
    final_origin = origin_of(page.final_url)
    if final_origin and final_origin != target.site_origin:
        findings.append(
            warn(
                "live.site",
                f"{target.site_url} redirects to {page.final_url}: browsers send "
                f"Origin {final_origin}, which the checks below use",
                f"run with --site-url {page.final_url}",
            )
        )
    sources = connect_sources(page.body.decode("utf-8", errors="replace"))
    if sources is None:
        findings.append(
            fail(
                "live.site_csp",
                f"{page.final_url or target.site_url} has no Content-Security-Policy "
                "meta: it is not a page of the Backchannel theme",
                "check --site-url, and that the deploy publishes the Hugo build (local_dir: public)",
            )
        )
    elif target.backend_socket_origin in sources:
        findings.append(
            ok(
                "live.site_csp",
                f"the page's CSP connect-src names {target.backend_socket_origin}: "
                "the published build points at this backend",
            )
        )
    else:
        named = " ".join(sources) or "(empty)"
        findings.append(
            fail(
                "live.site_csp",
                f"the page's CSP connect-src is {named!r}, without "
                f"{target.backend_socket_origin}: the published site was built for another backend",
                f'set backend_url = "{target.backend_socket_origin}" in config.toml and redeploy the '
                "site (push to the default branch), or pass --backend-url with the backend it names",
            )
        )
    return findings


# --- The backend over HTTP -----------------------------------------------------------------------


def check_health(target: LiveTarget, health: HttpResult, platform: BackendPlatform) -> Finding:
    url = f"{target.backend_http_url}/healthz"
    if health.status is None:
        timed_out = "no answer" in (health.error or "")
        slow = "; a sleeping dyno can take 30 s to wake: --timeout-secs 30" if timed_out else ""
        return fail(
            "live.health",
            f"the backend is unreachable at {url}: {health.error}",
            f"is it running? {platform.logs_command()}; is backend_url (or --backend-url) right?{slow}",
        )
    report = health.json()
    shown = json.dumps(report, sort_keys=True) if isinstance(report, dict) else repr(health.body[:200])
    if health.status == 200 and isinstance(report, dict) and report.get("status") == "ok":
        return ok("live.health", f"GET {url}: 200 {shown}{running_version(health)}")
    if isinstance(report, dict) and report.get("status") == "error":
        broken = [part for part, state in report.items() if part != "status" and state != "ok"]
        hints = {"database": "DATABASE_URL (heroku pg:info)", "channel_layer": "REDIS_URL (heroku redis:info)"}
        return fail(
            "live.health",
            f"GET {url}: {health.status} {shown}",
            f"check {', '.join(hints.get(part, part) for part in broken)}; {platform.logs_command()}",
        )
    return fail(
        "live.health",
        f"GET {url}: HTTP {health.status} {shown}: not a Backchannel backend's answer",
        "check backend_url's host and path in config.toml (or --backend-url)",
    )


def running_version(health: HttpResult) -> str:
    """The backend's version (/healthz's X-Backchannel-Version) beside this checkout's."""
    deployed = health.headers.get("x-backchannel-version")
    if not deployed:
        return ", version not shown (a backend older than 0.2.0)"
    return f", Backchannel {deployed}" + ("" if deployed == __version__ else f" (this checkout: {__version__})")


def _allowed_origins_fix(target: LiveTarget, platform: BackendPlatform) -> str:
    return (
        f"{platform.set_command('ALLOWED_ORIGINS', target.site_origin)} "
        "(keep any other origins you need, comma-separated)"
    )


def preflight(target: LiveTarget, origin: str, timeout_secs: float) -> HttpResult:
    """The CORS preflight a browser sends before the widget's token request."""
    return http_request("OPTIONS", f"{target.backend_http_url}/api/identity/", timeout_secs=timeout_secs, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
    })  # fmt: skip


def check_cors(target: LiveTarget, answer: HttpResult, platform: BackendPlatform) -> Finding:
    if answer.status is None:
        return fail("live.cors", f"the preflight got no answer: {answer.error}", platform.logs_command())
    if 300 <= answer.status < 400:
        return fail(
            "live.cors",
            f"the preflight was redirected (HTTP {answer.status} to "
            f"{answer.headers.get('location', '?')}): browsers do not follow redirected preflights",
            "point backend_url at the backend's https address (wss://...)",
        )
    allowed = answer.headers.get("access-control-allow-origin")
    if allowed == target.site_origin:
        return ok("live.cors", f"preflight from {target.site_origin}: Access-Control-Allow-Origin {allowed}")
    found = f"Access-Control-Allow-Origin is {allowed!r}" if allowed else "no Access-Control-Allow-Origin"
    return fail(
        "live.cors",
        f"preflight from {target.site_origin}: HTTP {answer.status}, {found}: ALLOWED_ORIGINS "
        f"on the backend lacks {target.site_origin}",
        _allowed_origins_fix(target, platform),
    )


def check_cors_foreign(answer: HttpResult, platform: BackendPlatform) -> Finding:
    if answer.status is None:
        return fail("live.cors_foreign", f"the preflight got no answer: {answer.error}", platform.logs_command())
    allowed = answer.headers.get("access-control-allow-origin")
    if not allowed:
        return ok("live.cors_foreign", f"preflight from {FOREIGN_ORIGIN}: refused (no Access-Control-Allow-Origin)")
    return fail(
        "live.cors_foreign",
        f"preflight from {FOREIGN_ORIGIN}: Access-Control-Allow-Origin {allowed!r}: "
        "any site could mint identities through its visitors",
        platform.set_command("ALLOWED_ORIGINS", "<your site's origin only>"),
    )


# --- The WebSocket -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandshakeOutcome:
    accepted: bool
    status: int | None = None  # the HTTP status of a refused handshake
    first_event: str | None = None  # the type of the server's first frame
    error: str | None = None  # why there was no handshake answer


def _connect(url: str, origin: str, timeout_secs: float):
    from websockets.asyncio.client import connect

    proxy = None if is_loopback(urlsplit(url).hostname) else True
    return connect(url, origin=origin, open_timeout=timeout_secs, proxy=proxy, close_timeout=timeout_secs)


async def websocket_handshake(url: str, origin: str, timeout_secs: float) -> HandshakeOutcome:
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        async with _connect(url, origin, timeout_secs) as socket_:
            first = json.loads(await asyncio.wait_for(socket_.recv(), timeout_secs))
            return HandshakeOutcome(accepted=True, first_event=first.get("type"))
    except InvalidStatus as refused:
        return HandshakeOutcome(accepted=False, status=refused.response.status_code)
    except TimeoutError:
        return HandshakeOutcome(accepted=False, error=f"no answer within {timeout_secs:g} s")
    except (WebSocketException, OSError, ValueError) as error:
        return HandshakeOutcome(accepted=False, error=describe_network_error(error, timeout_secs))


def check_websocket(target: LiveTarget, outcome: HandshakeOutcome, platform: BackendPlatform) -> Finding:
    where = f"{target.backend_socket_url} from {target.site_origin}"
    if outcome.accepted:
        return ok("live.websocket", f"handshake {where}: accepted, first frame {outcome.first_event!r}")
    if outcome.status == 403:
        return fail(
            "live.websocket",
            f"handshake {where}: refused (403): ALLOWED_ORIGINS on the backend lacks {target.site_origin}",
            _allowed_origins_fix(target, platform),
        )
    if outcome.status is not None:
        return fail(
            "live.websocket",
            f"handshake {where}: HTTP {outcome.status}",
            "a proxy or router in front of the backend must pass WebSocket upgrades to /ws/; "
            + platform.logs_command(),
        )
    return fail("live.websocket", f"handshake {where}: {outcome.error}", platform.logs_command())


def check_websocket_foreign(target: LiveTarget, outcome: HandshakeOutcome, platform: BackendPlatform) -> Finding:
    if outcome.status == 403:
        return ok("live.websocket_foreign", f"handshake from {FOREIGN_ORIGIN}: refused (403)")
    if outcome.accepted:
        return fail(
            "live.websocket_foreign",
            f"handshake from {FOREIGN_ORIGIN}: accepted: any site could open sockets to this backend",
            platform.set_command("ALLOWED_ORIGINS", target.site_origin),
        )
    found = f"HTTP {outcome.status}" if outcome.status else outcome.error
    return warn(
        "live.websocket_foreign", f"handshake from {FOREIGN_ORIGIN}: {found} (expected 403)", platform.logs_command()
    )


# --- A message round trip ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundTripOutcome:
    step: str  # the last step reached: challenge, token, connect, auth, join, send, done
    error: str | None = None  # why that step failed (None when done)
    error_code: str | None = None  # the server's error code, when it gave one
    proof_of_work_bits: int | None = None
    ack_ms: float | None = None
    broadcast_ms: float | None = None
    seq: int | None = None


def _api_error(result: HttpResult) -> tuple[str, str | None]:
    body = result.json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"HTTP {result.status}: {error.get('message', '')}", error.get("code")
    return f"HTTP {result.status}" if result.status else str(result.error), None


async def message_round_trip(target: LiveTarget, room: str, timeout_secs: float) -> RoundTripOutcome:
    """Get a token as the widget does, authenticate, join ``room``, send one message and wait
    for its ack and its broadcast."""
    from websockets.exceptions import InvalidStatus, WebSocketException

    headers = {"Origin": target.site_origin}
    challenge = await asyncio.to_thread(
        http_request,
        "GET",
        f"{target.backend_http_url}/api/identity/challenge/",
        timeout_secs=timeout_secs,
        headers=headers,
    )
    puzzle = challenge.json()
    if challenge.status != 200 or not isinstance(puzzle, dict):
        return RoundTripOutcome("challenge", *_api_error(challenge))
    bits = int(puzzle.get("difficulty_bits", 0))
    if bits > MAX_PROOF_OF_WORK_BITS:
        return RoundTripOutcome(
            "challenge", f"the proof of work asks {bits} bits (IDENTITY_POW_BITS): too slow to solve"
        )
    nonce = await asyncio.to_thread(solve, puzzle["challenge"], bits)
    token_answer = await asyncio.to_thread(
        http_request, "POST", f"{target.backend_http_url}/api/identity/", timeout_secs=timeout_secs, headers=headers,
        json_body={"name": DOCTOR_DISPLAY_NAME, "challenge": puzzle["challenge"], "nonce": nonce},
    )  # fmt: skip
    identity = token_answer.json()
    if token_answer.status != 200 or not isinstance(identity, dict) or "token" not in identity:
        return RoundTripOutcome("token", *_api_error(token_answer), proof_of_work_bits=bits)

    step = "connect"
    try:
        async with _connect(target.backend_socket_url, target.site_origin, timeout_secs) as socket_:

            async def next_event(wanted: set[str]) -> dict:
                """The next frame of one of the ``wanted`` types (presence, typing and the like are
                skipped); an error frame is returned as it is."""
                while True:
                    event = json.loads(await asyncio.wait_for(socket_.recv(), timeout_secs))
                    if event.get("type") in wanted or event.get("type") == "error":
                        return event

            step = "auth"
            await socket_.send(json.dumps({"type": "auth", "token": identity["token"]}))
            event = await next_event({"authenticated"})
            if event["type"] == "error":
                return RoundTripOutcome(step, event.get("message"), event.get("code"), bits)
            step = "join"
            await socket_.send(json.dumps({"type": "join", "room": room}))
            event = await next_event({"joined"})
            if event["type"] == "error":
                return RoundTripOutcome(step, event.get("message"), event.get("code"), bits)
            step = "send"
            client_id = f"doctor-{secrets.token_hex(8)}"
            text = f"backchannel doctor check {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
            started = time.perf_counter()
            await socket_.send(json.dumps({"type": "send", "room": room, "text": text, "client_id": client_id}))
            ack_ms = broadcast_ms = None
            seq = None
            while ack_ms is None or broadcast_ms is None:
                event = await next_event({"ack", "message"})
                elapsed_ms = (time.perf_counter() - started) * 1000
                if event["type"] == "error":
                    return RoundTripOutcome(step, event.get("message"), event.get("code"), bits)
                if event.get("client_id") != client_id:
                    continue  # somebody else's message in the room
                if event["type"] == "ack":
                    ack_ms, seq = elapsed_ms, event.get("seq")
                else:
                    broadcast_ms = elapsed_ms
            return RoundTripOutcome("done", proof_of_work_bits=bits, ack_ms=ack_ms, broadcast_ms=broadcast_ms, seq=seq)
    except InvalidStatus as refused:
        return RoundTripOutcome(step, f"handshake refused (HTTP {refused.response.status_code})", None, bits)
    except TimeoutError:
        return RoundTripOutcome(step, f"no answer within {timeout_secs:g} s", None, bits)
    except (WebSocketException, OSError, ValueError) as error:
        return RoundTripOutcome(step, describe_network_error(error, timeout_secs), None, bits)


def check_round_trip(target: LiveTarget, outcome: RoundTripOutcome, room: str, platform: BackendPlatform) -> Finding:
    if outcome.step == "done":
        return ok(
            "live.round_trip",
            f"token (proof of work {outcome.proof_of_work_bits} bits), auth, join {room!r}, "
            f"send: ack in {outcome.ack_ms:.0f} ms, message back in {outcome.broadcast_ms:.0f} ms "
            f"(seq {outcome.seq})",
        )
    found = f"{outcome.step} failed: {outcome.error}" + (f" ({outcome.error_code})" if outcome.error_code else "")
    fixes = {
        "identity_rate_limited": "wait a minute (new names per address: IDENTITY_BURST, IDENTITY_PER_MIN), run again",
        "rate_limited": "wait a few seconds (messages per identity and per address) and run again",
        "bad_token": "the backend refused the token it had just issued: do all its processes share one SECRET_KEY? "
        + platform.logs_command(),
        "locked": f"room {room!r} is locked: unlock it in the admin, or pass --room another-room",
        "slow_mode": f"room {room!r} is in slow mode: pass --room another-room",
        "duplicate_text": "run again in a minute",
    }
    if outcome.error_code in fixes:
        fix = fixes[outcome.error_code]
    elif outcome.step == "send":
        fix = (
            "the message was not relayed back: check the channel layer (REDIS_URL, /healthz's channel_layer); "
            + platform.logs_command()
        )
    elif outcome.step == "connect" and "403" in (outcome.error or ""):
        fix = _allowed_origins_fix(target, platform)
    else:
        fix = platform.logs_command()
    return fail("live.round_trip", found, fix)


# --- All of it, in order -------------------------------------------------------------------------


def run_live_checks(
    *, site_url: str, backend_url: str | None, room: str, timeout_secs: float, platform: BackendPlatform
) -> Iterator[Finding]:
    """The live checks in order, each yielded as soon as it is known (they wait on the network)."""
    if not backend_url:
        yield fail(
            "live.backend_url",
            "no backend URL: config.toml has no backend_url and --backend-url is not given",
            "pass --backend-url wss://<your backend>",
        )
        return
    try:
        target = live_target(site_url, backend_url)
    except ValueError as error:
        yield fail("live.target", str(error), "pass --site-url https://<your site>/ and --backend-url wss://<backend>")
        return

    progress(f"GET {target.site_url} (timeout {timeout_secs:g} s) ...")
    page = http_request("GET", target.site_url, timeout_secs=timeout_secs)
    site_findings = check_site_page(target, page)
    yield from site_findings
    final_origin = origin_of(page.final_url) if page.status == 200 else None
    if final_origin and final_origin != target.site_origin:
        target = LiveTarget(
            target.site_url,
            final_origin,
            target.backend_http_url,
            target.backend_socket_url,
            target.backend_socket_origin,
        )

    progress(f"GET {target.backend_http_url}/healthz ...")
    health = http_request("GET", f"{target.backend_http_url}/healthz", timeout_secs=timeout_secs)
    yield check_health(target, health, platform)
    if health.status is None:
        for check in BACKEND_LIVE_CHECKS:
            yield skip(check, "not checked: the backend is unreachable (see live.health)")
        return

    progress(f"CORS preflights to {target.backend_http_url}/api/identity/ ...")
    yield check_cors(target, preflight(target, target.site_origin, timeout_secs), platform)
    yield check_cors_foreign(preflight(target, FOREIGN_ORIGIN, timeout_secs), platform)

    progress(f"WebSocket handshakes with {target.backend_socket_url} ...")
    own = asyncio.run(websocket_handshake(target.backend_socket_url, target.site_origin, timeout_secs))
    yield check_websocket(target, own, platform)
    foreign = asyncio.run(websocket_handshake(target.backend_socket_url, FOREIGN_ORIGIN, timeout_secs))
    yield check_websocket_foreign(target, foreign, platform)

    if not own.accepted:
        yield skip("live.round_trip", "not tried: the socket from the site's origin is refused (see live.websocket)")
        return
    progress(f"message round trip in room {room!r} (token, proof of work, auth, join, send) ...")
    yield check_round_trip(target, asyncio.run(message_round_trip(target, room, timeout_secs)), room, platform)
