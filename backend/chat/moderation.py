"""What moderators do (services called by the admin, a shell or a test) and what it means for
visitors (selectors called on ``auth`` and ``send``). Each service writes the database first,
then tells open sockets through the channel layer, so the effect reaches open pages at once and
survives a reload."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from chat import services
from chat.broadcast import moderation_notice, send_to_group, send_to_room
from chat.events import deleted_event_for, message_event_for, room_state_event_for
from chat.models import HeldMessage, Message, Room, Sanction
from chat.protocol import CloseCode, ServerEvent, moderated_event
from chat.rooms import ip_group_for, visitor_group_for


def delete_message(*, message: Message, by: str) -> bool:
    """Remove a message from every page; False when it was already deleted."""
    updated = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(), deleted_by=by
    )
    if updated:
        message.refresh_from_db()
        send_to_room(message.room.name, deleted_event_for(message))
    return bool(updated)


def approve_held_message(*, held: HeldMessage, by: str) -> bool:
    """Post a message the word filter held: it reaches the room like any message (its sender's
    page matches it to the waiting copy by client_id). False when it was no longer waiting."""
    message = services.approve_held(held=held, by=by)
    if message is None:
        return False
    send_to_room(message.room.name, message_event_for(message))
    return True


def reject_held_message(*, held: HeldMessage, by: str) -> bool:
    """Decline a held message: kept on record, never shown. False when it was no longer waiting."""
    return services.reject_held(held=held, by=by)


def impose(
    *,
    kind: Sanction.Kind,
    visitor: str = "",
    ip: str | None = None,
    duration: timedelta | None = None,
    reason: str = "",
    by: str = "",
) -> Sanction:
    """Mute or ban a visitor, an IP address or both; ``duration`` None means until lifted."""
    if not visitor and not ip:
        raise ValueError("a sanction needs a visitor, an IP address or both")
    until = timezone.now() + duration if duration is not None else None
    sanction = Sanction.objects.create(kind=kind, visitor=visitor, ip=ip, reason=reason, until=until, created_by=by)
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


def lift(*, sanction: Sanction) -> None:
    """End a sanction now. A lifted mute is announced so the composer opens again."""
    sanction.delete()
    if sanction.kind == Sanction.Kind.MUTE:
        _tell_targets(sanction, moderated_event("unmuted", reason="", until=None), None)


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
    in_force = Sanction.objects.filter(target).filter(Q(until__isnull=True) | Q(until__gt=now))
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
