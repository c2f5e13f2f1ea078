"""Live moderation in the Django admin. Every action goes through chat.moderation, which writes
the database and tells open pages through the channel layer (they see it within a second)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from chat import moderation
from chat.models import BlockedWord, HeldMessage, Message, Presence, Room, Sanction

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _by(request: HttpRequest) -> str:
    return request.user.get_username()


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seq", "locked", "slow_mode_secs", "created_at"]
    list_filter = ["locked"]
    search_fields = ["name"]
    readonly_fields = ["last_seq"]
    actions = ["lock", "unlock", "slow_mode_30s", "slow_mode_off"]

    def save_model(self, request: HttpRequest, obj: Room, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"locked", "slow_mode_secs"} & set(form.changed_data):
            moderation.set_room_state(room=obj, locked=obj.locked, slow_mode_secs=obj.slow_mode_secs)

    @admin.action(description="Lock (read-only for visitors)")
    def lock(self, request: HttpRequest, rooms: QuerySet[Room]) -> None:
        self._set_state(request, rooms, "Locked", locked=True)

    @admin.action(description="Unlock")
    def unlock(self, request: HttpRequest, rooms: QuerySet[Room]) -> None:
        self._set_state(request, rooms, "Unlocked", locked=False)

    @admin.action(description="Slow mode: one message per visitor every 30 s")
    def slow_mode_30s(self, request: HttpRequest, rooms: QuerySet[Room]) -> None:
        self._set_state(request, rooms, "Slow mode on in", slow_mode_secs=30)

    @admin.action(description="Slow mode off")
    def slow_mode_off(self, request: HttpRequest, rooms: QuerySet[Room]) -> None:
        self._set_state(request, rooms, "Slow mode off in", slow_mode_secs=0)

    def _set_state(self, request: HttpRequest, rooms: QuerySet[Room], done: str, **changes: object) -> None:
        for room in rooms:
            state = {"locked": room.locked, "slow_mode_secs": room.slow_mode_secs, **changes}
            moderation.set_room_state(room=room, **state)
        self.message_user(request, f"{done} {len(rooms)} room(s).", messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "staff", "text", "sent_at", "deleted_at"]
    list_filter = ["room", "staff", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["author", "text", "visitor"]
    # The log is append-only from the socket; moderators act on it through the actions below.
    readonly_fields = [field.name for field in Message._meta.fields]
    actions = ["delete_for_everyone", "mute_author_hour", "mute_author_day", "ban_author_day", "ban_author_forever"]

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # a hard delete would leave a seq gap: use "Delete for everyone" (a tombstone)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Delete for everyone (disappears from open pages)")
    def delete_for_everyone(self, request: HttpRequest, selected: QuerySet[Message]) -> None:
        deleted = sum(moderation.delete_message(message=message, by=_by(request)) for message in selected)
        self.message_user(request, f"Deleted {deleted} message(s).", messages.SUCCESS)

    @admin.action(description="Mute the authors for an hour")
    def mute_author_hour(self, request: HttpRequest, selected: QuerySet[Message]) -> None:
        self._sanction(request, selected, Sanction.Kind.MUTE, HOUR, with_ip=False)

    @admin.action(description="Mute the authors for a day")
    def mute_author_day(self, request: HttpRequest, selected: QuerySet[Message]) -> None:
        self._sanction(request, selected, Sanction.Kind.MUTE, DAY, with_ip=False)

    @admin.action(description="Ban the authors and their addresses for a day")
    def ban_author_day(self, request: HttpRequest, selected: QuerySet[Message]) -> None:
        self._sanction(request, selected, Sanction.Kind.BAN, DAY, with_ip=True)

    @admin.action(description="Ban the authors and their addresses until lifted")
    def ban_author_forever(self, request: HttpRequest, selected: QuerySet[Message]) -> None:
        self._sanction(request, selected, Sanction.Kind.BAN, None, with_ip=True)

    def _sanction(
        self,
        request: HttpRequest,
        selected: QuerySet[Message],
        kind: Sanction.Kind,
        duration: timedelta | None,
        *,
        with_ip: bool,
    ) -> None:
        targets = {(message.visitor, message.ip if with_ip else None) for message in selected if not message.staff}
        for visitor, ip in targets:
            if visitor or ip:
                moderation.impose(kind=kind, visitor=visitor, ip=ip, duration=duration, by=_by(request))
        self.message_user(request, f"{kind.label.capitalize()}: {len(targets)} author(s).", messages.SUCCESS)


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin):
    list_display = ["kind", "visitor", "ip", "until", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["visitor", "ip", "reason"]
    readonly_fields = ["created_at", "created_by"]
    actions = ["lift_selected"]

    def save_model(self, request: HttpRequest, obj: Sanction, form, change: bool) -> None:
        if not change:
            obj.created_by = _by(request)
        super().save_model(request, obj, form, change)
        moderation.announce(obj)

    def delete_model(self, request: HttpRequest, obj: Sanction) -> None:
        moderation.lift(sanction=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> None:
        for sanction in queryset:
            moderation.lift(sanction=sanction)

    @admin.action(description="Lift now")
    def lift_selected(self, request: HttpRequest, selected: QuerySet[Sanction]) -> None:
        for sanction in selected:
            moderation.lift(sanction=sanction)


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):
    list_display = ["room_name", "name", "visitor", "staff", "last_seen"]
    list_filter = ["room_name", "staff"]
    readonly_fields = [field.name for field in Presence._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(BlockedWord)
class BlockedWordAdmin(admin.ModelAdmin):
    """The word filter's entries. Saving or deleting one takes effect at once on this process
    and within seconds on the others (chat.wordfilter)."""

    list_display = ["text", "kind", "action", "note", "created_by", "created_at"]
    list_filter = ["kind", "action"]
    search_fields = ["text", "note"]
    readonly_fields = ["created_at", "created_by"]

    def save_model(self, request: HttpRequest, obj: BlockedWord, form, change: bool) -> None:
        if not change:
            obj.created_by = _by(request)
        super().save_model(request, obj, form, change)


@admin.register(HeldMessage)
class HeldMessageAdmin(admin.ModelAdmin):
    """Messages the word filter held, newest first: approve posts one to its room (at the end of
    the log, dated now), reject keeps it on record unseen."""

    list_display = ["room_name", "author", "text", "matched", "status", "sent_at", "reviewed_by"]
    list_filter = ["status", "room_name"]
    search_fields = ["author", "text", "visitor"]
    readonly_fields = [field.name for field in HeldMessage._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Approve (post to the room)")
    def approve(self, request: HttpRequest, selected: QuerySet[HeldMessage]) -> None:
        posted = sum(moderation.approve_held_message(held=held, by=_by(request)) for held in selected)
        self.message_user(request, f"Posted {posted} message(s).", messages.SUCCESS)

    @admin.action(description="Reject (never shown)")
    def reject(self, request: HttpRequest, selected: QuerySet[HeldMessage]) -> None:
        rejected = sum(moderation.reject_held_message(held=held, by=_by(request)) for held in selected)
        self.message_user(request, f"Rejected {rejected} message(s).", messages.SUCCESS)
