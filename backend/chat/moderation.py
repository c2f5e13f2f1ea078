"""What moderators do (services called by the admin, a shell or a test) and what it means for
visitors (selectors called on ``auth`` and ``send``). Each service writes the database first,
then tells open sockets through the channel layer, so the effect reaches open pages at once and
survives a reload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from chat import changes, presence, sanction_cache, selectors, services
from chat.broadcast import moderation_notice, send_frames_to_room, send_to_group, send_to_room
from chat.conf import conf
from chat.errors import BackchannelError
from chat.events import change_frames, message_frames, room_state_event_for
from chat.identity import Identity, staff_user_pk
from chat.models import HeldMessage, Message, Report, Room, Sanction
from chat.protocol import CloseCode, ErrorCode, ServerEvent, moderated_event
from chat.rooms import ip_group_for, visitor_group_for


def delete_message(*, message: Message, by: str, reason: str = "") -> bool:
    """Remove a message from every page (its reactions with it; replies show their quote
    removed); False when it was already deleted. Recorded as a change of the room's log."""
    result = changes.moderator_delete(message=message, by=by, reason=reason)
    if result.applied:
        message.refresh_from_db()
        send_frames_to_room(message.room.name, change_frames(result.kind, result.messages))
    return result.applied


def approve_held_message(*, held: HeldMessage, by: str) -> bool:
    """Post a message the word filter held: it reaches the room like any message (its sender's
    page matches it to the waiting copy by client_id). False when it was no longer waiting."""
    message = services.approve_held(held=held, by=by)
    if message is None:
        return False
    send_frames_to_room(message.room.name, [message_frames(message)])
    return True


def reject_held_message(*, held: HeldMessage, by: str) -> bool:
    """Decline a held message: kept on record, never shown. False when it was no longer waiting."""
    return services.reject_held(held=held, by=by)


class Refused(BackchannelError):
    """A moderation request the service will not carry out; ``code`` says why (the API answers it)."""

    code: ErrorCode = ErrorCode.BAD_FIELD

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class NotFound(Refused):
    code = ErrorCode.NOT_FOUND


class Protected(Refused):
    """Staff identities, the addresses of signed-in staff and a moderator's own address are never
    muted or banned: on a shared address (an office, a campus, a carrier) an address sanction
    would otherwise lock the moderators out with the people they moderate."""

    code = ErrorCode.PROTECTED


def protection_problem(*, visitor: str, ip: str | None, moderator_ip: str | None = None) -> str | None:
    """Why a sanction of ``visitor`` and/or address ``ip`` may not be imposed, or None."""
    if visitor and staff_user_pk(visitor) is not None:
        return "staff are never muted or banned"
    if ip and ip == moderator_ip:
        return f"{ip} is your own address"
    if ip and ip in presence.staff_addresses():
        return f"a signed-in staff member is on {ip}; ban the identity only"
    return None


def impose(
    *,
    kind: Sanction.Kind,
    visitor: str = "",
    ip: str | None = None,
    duration: timedelta | None = None,
    reason: str = "",
    by: str = "",
    visitor_name: str = "",
    seen_ip: str | None = None,
    moderator_ip: str | None = None,
) -> Sanction:
    """Mute or ban a visitor, an IP address or both; ``duration`` None means until lifted.

    ``ip`` sanctions everyone on the address (an explicit choice). ``seen_ip``, where the visitor
    was seen (looked up when not given), only carries the sanction to new identities issued there
    within SANCTION_ADDRESS_CARRY_SECS. Raises ``Protected`` for staff and staff's addresses."""
    if not visitor and not ip:
        raise ValueError("a sanction needs a visitor, an IP address or both")
    problem = protection_problem(visitor=visitor, ip=ip, moderator_ip=moderator_ip)
    if problem:
        raise Protected(problem)
    if visitor:
        known = selectors.visitor_seen(visitor=visitor)
        seen_ip = seen_ip or known.ip
        visitor_name = visitor_name or known.name
    if seen_ip and protection_problem(visitor="", ip=seen_ip, moderator_ip=moderator_ip):
        seen_ip = None  # never carried to new names on a staff member's address
    until = timezone.now() + duration if duration is not None else None
    sanction = Sanction.objects.create(
        kind=kind,
        visitor=visitor,
        ip=ip,
        reason=reason,
        until=until,
        created_by=by,
        visitor_name=visitor_name,
        seen_ip=seen_ip,
    )
    announce(sanction)
    return sanction


def announce(sanction: Sanction) -> None:
    """Tell the sanctioned sockets (a ban closes them). The admin calls this after saving one."""
    if sanction.kind == Sanction.Kind.BAN:
        _tell_targets(
            sanction, moderated_event("banned", reason=sanction.reason, until=sanction.until), CloseCode.BANNED
        )
    else:
        _tell_targets(sanction, moderated_event("muted", reason=sanction.reason, until=sanction.until), None)


def lift(*, sanction: Sanction, by: str = "", reason: str = "") -> bool:
    """End a sanction now, and the copies new identities got from it. The record stays (lifted_at,
    lifted_by). A lifted mute is announced so the composer opens again; a lifted ban needs nothing
    sent (its sockets were closed): every process drops its copy of the sanctions in force
    (chat.sanction_cache), so the page's next retry gets in. False when it was already lifted."""
    now = timezone.now()
    ids = [sanction.pk, *sanction.carried_copies.filter(lifted_at__isnull=True).values_list("pk", flat=True)]
    lifted = list(Sanction.objects.filter(pk__in=ids, lifted_at__isnull=True))
    Sanction.objects.filter(pk__in=[each.pk for each in lifted]).update(
        lifted_at=now, lifted_by=by, lifted_reason=reason
    )
    if lifted:  # an update sends no post_save: every process drops its copy of sanctions here
        sanction_cache.sanctions_changed()
    sanction.refresh_from_db()
    for each in lifted:
        if each.kind != Sanction.Kind.MUTE:
            continue
        # Another mute of the same visitor may still hold: "unmuted" would open a composer in vain.
        if (
            each.visitor
            and not each.ip
            and active_sanction(kind=Sanction.Kind.MUTE, visitor=each.visitor, ip=None, now=now)
        ):
            continue
        _tell_targets(each, moderated_event("unmuted", reason="", until=None), None)
    return any(each.pk == sanction.pk for each in lifted)


def carry_over(*, visitor: str, name: str, ip: str | None, now: datetime) -> Sanction | None:
    """A new identity is being issued to ``ip``: it gets the mutes of identities seen there within
    SANCTION_ADDRESS_CARRY_SECS (a copy, linked to the original). Returns a ban that covers it
    (the caller refuses the identity; nothing is stored), or None."""
    window_secs = conf.SANCTION_ADDRESS_CARRY_SECS
    if not window_secs or not ip:
        return None
    recent = (
        Sanction.objects.filter(
            seen_ip=ip,
            carried_from__isnull=True,
            lifted_at__isnull=True,
            created_at__gte=now - timedelta(seconds=window_secs),
        )
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .order_by(F("until").desc(nulls_first=True))
    )
    strongest: dict[str, Sanction] = {}
    for sanction in recent:
        strongest.setdefault(sanction.kind, sanction)
    if Sanction.Kind.BAN in strongest:
        return strongest[Sanction.Kind.BAN]
    mute = strongest.get(Sanction.Kind.MUTE)
    if mute is not None:
        Sanction.objects.create(
            kind=Sanction.Kind.MUTE,
            visitor=visitor,
            visitor_name=name,
            reason=mute.reason,
            until=mute.until,
            created_by=mute.created_by,
            carried_from=mute,
        )
    return None


def moderate(
    *,
    room: str,
    action: str,
    seq: int | None,
    visitor: str | None,
    duration: timedelta | None,
    reason: str,
    by_address: bool,
    by: str,
    moderator_ip: str | None,
) -> int:
    """One action of a moderator on a chat page (the moderation API): delete the message ``seq``,
    or mute or ban the author of ``seq`` or the person ``visitor``, the identity only unless
    ``by_address``. Returns how many open sockets it reached. Raises ``Refused``."""
    target = selectors.moderation_target(room_name=room, seq=seq, visitor=visitor)
    if action == "delete":
        assert target.message is not None  # the API requires seq for a delete
        delete_message(message=target.message, by=by, reason=reason)
        return presence.sockets_in_room(room=room)
    if not target.visitor:
        raise NotFound("the author of this message is not known")
    ip = None
    if by_address:
        if not target.ip:
            raise NotFound("the address of this visitor is not known")
        ip = target.ip
    kind = Sanction.Kind.BAN if action == "ban" else Sanction.Kind.MUTE
    problem = protection_problem(visitor=target.visitor, ip=ip, moderator_ip=moderator_ip)
    if problem:
        raise Protected(problem)
    reached = presence.sockets_of(visitor=target.visitor, ip=ip)  # counted before a ban closes them
    impose(
        kind=kind,
        visitor=target.visitor,
        ip=ip,
        duration=duration,
        reason=reason,
        by=by,
        visitor_name=target.name,
        seen_ip=target.ip,
        moderator_ip=moderator_ip,
    )
    return reached


@dataclass(frozen=True)
class AddressReport:
    online_from_address: int
    protected: bool


def address_report(*, room: str, seq: int | None, visitor: str | None, moderator_ip: str | None) -> AddressReport:
    """What an address ban of this target would reach: people and readers online from its address
    now, and whether it is refused (``Protected``) anyway."""
    target = selectors.moderation_target(room_name=room, seq=seq, visitor=visitor)
    if not target.ip:
        raise NotFound("the address of this visitor is not known")
    problem = protection_problem(visitor=target.visitor, ip=target.ip, moderator_ip=moderator_ip)
    return AddressReport(presence.online_from_address(ip=target.ip), protected=problem is not None)


def report_message(*, room: str, seq: int, identity: Identity, reason: str, ip: str | None) -> bool:
    """A visitor reports someone else's message: True when recorded now, False when this visitor
    had reported it already (one report per visitor and message)."""
    message = Message.objects.filter(room__name=room, seq=seq).first()
    if message is None:
        raise NotFound("no such message in this room")
    if message.visitor == identity.visitor:
        raise Refused("you cannot report your own message")
    _, created = Report.objects.get_or_create(
        message=message, visitor=identity.visitor, defaults={"name": identity.name, "ip": ip, "reason": reason}
    )
    return created


def dismiss_reports(*, reports: QuerySet[Report], by: str) -> int:
    """Close reports without acting on the message; they stay on record."""
    return reports.filter(dismissed_at__isnull=True).update(dismissed_at=timezone.now(), dismissed_by=by)


def set_room_state(*, room: Room, locked: bool, slow_mode_secs: int) -> None:
    Room.objects.filter(pk=room.pk).update(locked=locked, slow_mode_secs=slow_mode_secs)
    room.refresh_from_db()
    send_to_room(room.name, room_state_event_for(room))


def active_sanction(*, kind: Sanction.Kind, visitor: str, ip: str | None, now: datetime) -> Sanction | None:
    """The sanction of ``kind`` in force for this visitor or address, the longest first."""
    return _in_force(visitor=visitor, ip=ip, now=now).filter(kind=kind).first()


def sanctions_in_force(*, visitor: str, ip: str | None, now: datetime) -> dict[str, Sanction]:
    """The longest ban and the longest mute in force for this visitor or address, by kind, in one
    query (every ``send`` asks)."""
    strongest: dict[str, Sanction] = {}
    for sanction in _in_force(visitor=visitor, ip=ip, now=now):
        strongest.setdefault(sanction.kind, sanction)
    return strongest


def _in_force(*, visitor: str, ip: str | None, now: datetime) -> QuerySet[Sanction]:
    target = Q(visitor=visitor) if visitor else Q(pk__in=[])
    if ip:
        target |= Q(ip=ip)
    in_force = Sanction.objects.filter(target, lifted_at__isnull=True).filter(Q(until__isnull=True) | Q(until__gt=now))
    # One without an end outranks any with one; among those, the one that ends last.
    return in_force.order_by(F("until").desc(nulls_first=True))


def describe(sanction: Sanction) -> str:
    """A readable sentence for an error message: what, until when, why."""
    what = "banned" if sanction.kind == Sanction.Kind.BAN else "muted"
    until = f"until {sanction.until:%Y-%m-%d %H:%M} UTC" if sanction.until else "until a moderator lifts it"
    reason = f": {sanction.reason}" if sanction.reason else ""
    return f"you are {what} {until}{reason}"


def _tell_targets(sanction: Sanction, event: ServerEvent, close_code: int | None) -> None:
    if sanction.visitor:
        send_to_group(moderation_notice(visitor_group_for(sanction.visitor), event, close_code))
    if sanction.ip:
        send_to_group(moderation_notice(ip_group_for(sanction.ip), event, close_code))
