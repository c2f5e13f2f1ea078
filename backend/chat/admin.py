"""Live moderation in the Django admin. Every action goes through chat.moderation, which writes
the database and tells open pages through the channel layer (they see it within a second)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from chat import export, moderation, presence, selectors
from chat.identity import visitor_tag
from chat.models import (
    BlockedWord,
    HeldMessage,
    Message,
    MessageChange,
    Presence,
    Reaction,
    Report,
    Room,
    Sanction,
)

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations  # a model with the attributes its queryset annotated

    class ReportCounts(TypedDict):  # ReportAdmin.get_queryset's annotation
        reports_on_message: int


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
REASON_MAX_CHARS = 200
NO_REASON = "(none given)"
DONE = {Sanction.Kind.MUTE: "muted", Sanction.Kind.BAN: "banned"}
TEXT_PREVIEW_CHARS = 120
# Changes listed on a message's page (a popular message collects many reactions).
HISTORY_ROWS = 200


def _by(request: HttpRequest) -> str:
    return request.user.get_username()


def _moderator_ip(request: HttpRequest) -> str | None:
    # The moderator's own address is never sanctioned (chat.moderation.protection_problem).
    return request.META.get("REMOTE_ADDR") or None


def _full_time(moment: datetime | None) -> str:
    """A whole timestamp that never wraps: Django's default ("Jan. 5, 2026, 3:04 p.m.") broke over
    lines and was cut off in narrow windows."""
    if moment is None:
        return "-"
    return format_html(
        '<span style="white-space:nowrap">{}</span>', f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"
    )


def _who(name: str, visitor: str) -> str:
    """A name as the chat shows it (with its tag), and the visitor id to search by."""
    if not visitor:
        return name or "-"
    return format_html("{} <small>#{} · {}</small>", name or "?", visitor_tag(visitor), visitor)


def _preview(text: str) -> str:
    short = text if len(text) <= TEXT_PREVIEW_CHARS else text[: TEXT_PREVIEW_CHARS - 1] + "…"
    return format_html('<span title="{}">{}</span>', text, short)


def confirm_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    selected: QuerySet,
    *,
    title: str,
    lines: Iterable[str],
    warnings: Iterable[str] = (),
    initial_reason: str = "",
    reason_required: bool = True,
    confirm_label: str = "Yes, do it",
) -> str | TemplateResponse:
    """Every moderation action asks first: what it will do to whom, and why. Returns the reason
    once the moderator confirmed (the action then runs), else the page that asks."""
    error = ""
    if request.POST.get("confirmed") == "yes":
        reason = request.POST.get("reason", "").strip()[:REASON_MAX_CHARS]
        if reason or not reason_required:
            return reason
        error = "Give a reason: it is kept with the record, and a muted or banned visitor sees it."
        initial_reason = ""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "lines": list(lines),
        "warnings": list(warnings),
        "error": error,
        "reason": initial_reason,
        "reason_label": "Reason (required)" if reason_required else "Reason (optional)",
        "reason_required": reason_required,
        "queryset": selected,
        "action": request.POST.get("action", ""),
        "confirm_label": confirm_label,
    }
    return TemplateResponse(request, "admin/chat/confirm_action.html", context)


def sanction_authors(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    authored: Iterable[Message],
    *,
    kind: Sanction.Kind,
    duration: timedelta | None,
    by_address: bool,
    reason: str,
) -> None:
    """Mute or ban the authors of ``authored`` (each once), the identity only unless
    ``by_address``. A protected author (staff, or on a staff member's address or the
    moderator's own) is named in an error and left alone."""
    authors: dict[str, Message] = {}
    for message in authored:
        if message.visitor:
            authors.setdefault(message.visitor, message)
    done: list[str] = []
    for visitor, message in authors.items():
        try:
            moderation.impose(
                kind=kind,
                visitor=visitor,
                ip=message.ip if by_address else None,
                duration=duration,
                reason=reason,
                by=_by(request),
                visitor_name=message.author,
                seen_ip=message.ip,
                moderator_ip=_moderator_ip(request),
            )
        except moderation.Protected as refused:
            modeladmin.message_user(
                request, f"{message.author} was not {DONE[kind]}: {refused.message}. Nothing was done.", messages.ERROR
            )
            continue
        done.append(message.author)
    if done:
        modeladmin.message_user(request, f"{DONE[kind].capitalize()}: {', '.join(done)}.", messages.SUCCESS)


def describe_authors(authored: Iterable[Message], *, by_address: bool) -> list[str]:
    """One line per author for a confirmation page; with the address, who else is online from it."""
    lines: dict[str, str] = {}
    for message in authored:
        if message.visitor in lines or not message.visitor:
            continue
        line = f"{message.author} #{visitor_tag(message.visitor)} (visitor {message.visitor})"
        if by_address:
            if message.ip:
                online = presence.online_from_address(ip=message.ip)
                line += f" and the address {message.ip}: {online} online from it now"
            else:
                line += ", address unknown: the identity only"
        lines[message.visitor] = line
    return list(lines.values()) or ["nobody: these messages have no known author"]


AUTHOR_ACTIONS: dict[str, tuple[Sanction.Kind, timedelta | None, bool, str]] = {
    # action name: kind, duration, by address, what the confirmation page calls it
    "mute_author_hour": (Sanction.Kind.MUTE, HOUR, False, "Mute for an hour"),
    "mute_author_day": (Sanction.Kind.MUTE, DAY, False, "Mute for a day"),
    "ban_author_day": (Sanction.Kind.BAN, DAY, False, "Ban for a day"),
    "ban_author_forever": (Sanction.Kind.BAN, None, False, "Ban until lifted"),
    "ban_author_and_address_day": (Sanction.Kind.BAN, DAY, True, "Ban, with everyone on the same address, for a day"),
}


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seq", "locked", "slow_mode_secs", "created_at"]
    list_filter = ["locked"]
    search_fields = ["name"]
    readonly_fields = ["last_seq", "last_rev", "pruned_seq"]
    actions = ["lock", "unlock", "slow_mode_30s", "slow_mode_off", "export_json", "export_csv"]

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

    @admin.action(description="Export as JSON (one room)", permissions=["export"])
    def export_json(self, request: HttpRequest, rooms: QuerySet[Room]) -> StreamingHttpResponse | None:
        return self._export(request, rooms, "json")

    @admin.action(description="Export as CSV (one room)", permissions=["export"])
    def export_csv(self, request: HttpRequest, rooms: QuerySet[Room]) -> StreamingHttpResponse | None:
        return self._export(request, rooms, "csv")

    def has_export_permission(self, request: HttpRequest) -> bool:
        """An export is every message of the room: staff who may read messages in the admin."""
        return request.user.has_perm("chat.view_message")

    def _export(self, request: HttpRequest, rooms: QuerySet[Room], fmt: export.Format) -> StreamingHttpResponse | None:
        """The room's log as a download, streamed as it is read (chat.export)."""
        if len(rooms) != 1:
            self.message_user(request, "Export one room at a time: select exactly one.", messages.ERROR)
            return None
        [room] = rooms
        now = timezone.now()
        chunks = _streamed(request, export.chunks(room, fmt, now=now))
        response = StreamingHttpResponse(chunks, content_type=export.CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{export.filename(room, fmt, now=now)}"'
        return response

    def _set_state(self, request: HttpRequest, rooms: QuerySet[Room], done: str, **changes: Any) -> None:
        for room in rooms:
            state = {"locked": room.locked, "slow_mode_secs": room.slow_mode_secs, **changes}
            moderation.set_room_state(room=room, **state)
        self.message_user(request, f"{done} {len(rooms)} room(s).", messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The rooms' log, newest first (new spam is on the first page)."""

    list_display = ["sent", "room", "seq", "author_", "text_", "staff", "deleted"]
    list_filter = ["room", "staff", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["author", "visitor", "ip", "text"]
    ordering = ["-sent_at", "-pk"]
    list_select_related = ["room"]
    # The log is append-only from the socket; moderators act on it through the actions below.
    readonly_fields = [*(field.name for field in Message._meta.fields), "history"]
    actions = ["delete_for_everyone", *AUTHOR_ACTIONS]

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # a hard delete would leave a seq gap: use "Delete for everyone" (a tombstone)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="sent at", ordering="sent_at")
    def sent(self, message: Message) -> str:
        return _full_time(message.sent_at)

    @admin.display(description="author", ordering="author")
    def author_(self, message: Message) -> str:
        return _who(message.author, message.visitor)

    @admin.display(description="text")
    def text_(self, message: Message) -> str:
        return _preview(message.text)

    @admin.display(description="deleted", boolean=True, ordering="deleted_at")
    def deleted(self, message: Message) -> bool:
        return message.deleted_at is not None

    @admin.display(description="history of changes")
    def history(self, message: Message) -> str:
        """Every change to the message, oldest first (MessageChange rows: the edit history
        moderators read, with the text before and after each edit), and the deletion of the
        message it replies to (its quote then shows it removed)."""
        about = Q(seq=message.seq)
        if message.reply_to_seq is not None:
            about |= Q(seq=message.reply_to_seq, kind=MessageChange.Kind.DELETE)
        found = list(MessageChange.objects.filter(about, room_id=message.room_id).order_by("-rev")[:HISTORY_ROWS])
        if not found:
            return "no edits, deletions or reactions"
        names = _names_of({change.visitor for change in found} - {"", message.visitor})
        names.update(Reaction.objects.filter(message=message).values_list("visitor", "name"))
        names[message.visitor] = message.author
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (change.rev, _full_time(change.created_at), *_change_summary(change, message, names))
                for change in reversed(found)
            ),
        )
        more = f"only the latest {HISTORY_ROWS} changes are shown; " if len(found) == HISTORY_ROWS else ""
        return format_html(
            "<table><thead><tr><th>rev</th><th>when</th><th>what</th><th>by</th><th>details</th></tr></thead>"
            "<tbody>{}</tbody></table><p>{}oldest first</p>",
            rows,
            more,
        )

    @admin.action(description="Delete for everyone (disappears from open pages)")
    def delete_for_everyone(self, request: HttpRequest, selected: QuerySet[Message]):
        lines = [f"{message.room.name} #{message.seq} {message.author}: {message.text[:80]}" for message in selected]
        reason = confirm_with_reason(self, request, selected, title="Delete for everyone", lines=lines)
        if not isinstance(reason, str):
            return reason
        by = _by(request)
        deleted = sum(moderation.delete_message(message=message, by=by, reason=reason) for message in selected)
        self.message_user(request, f"Deleted {deleted} message(s).", messages.SUCCESS)
        return None

    @admin.action(description="Mute the authors for an hour")
    def mute_author_hour(self, request: HttpRequest, selected: QuerySet[Message]):
        return self._sanction(request, selected, "mute_author_hour")

    @admin.action(description="Mute the authors for a day")
    def mute_author_day(self, request: HttpRequest, selected: QuerySet[Message]):
        return self._sanction(request, selected, "mute_author_day")

    @admin.action(description="Ban the authors for a day (their identity only)")
    def ban_author_day(self, request: HttpRequest, selected: QuerySet[Message]):
        return self._sanction(request, selected, "ban_author_day")

    @admin.action(description="Ban the authors until lifted (their identity only)")
    def ban_author_forever(self, request: HttpRequest, selected: QuerySet[Message]):
        return self._sanction(request, selected, "ban_author_forever")

    @admin.action(description="Ban the authors AND everyone on their addresses for a day")
    def ban_author_and_address_day(self, request: HttpRequest, selected: QuerySet[Message]):
        return self._sanction(request, selected, "ban_author_and_address_day")

    def _sanction(self, request: HttpRequest, selected: QuerySet[Message], action: str, initial_reason: str = ""):
        kind, duration, by_address, title = AUTHOR_ACTIONS[action]
        authored = list(selected)
        warnings = []
        if by_address:
            warnings.append(
                "An address ban also shuts out everyone else on that address (an office, a campus, a mobile "
                "carrier). Staff identities and addresses with staff signed in are never banned."
            )
        reason = confirm_with_reason(
            self,
            request,
            selected,
            title=title,
            lines=describe_authors(authored, by_address=by_address),
            warnings=warnings,
            initial_reason=initial_reason,
        )
        if not isinstance(reason, str):
            return reason
        sanction_authors(self, request, authored, kind=kind, duration=duration, by_address=by_address, reason=reason)
        return None


def _names_of(visitors: set[str]) -> dict[str, str]:
    """A display name for each visitor id (one it posted or was online with), in two queries."""
    names = dict(Presence.objects.filter(visitor__in=visitors).values_list("visitor", "name"))
    names.update(Message.objects.filter(visitor__in=visitors).values_list("visitor", "author"))
    return names


def _streamed(request: HttpRequest, chunks: Iterator[str]) -> Iterator[str] | AsyncIterator[str]:
    """``chunks`` as the server reads a streamed response a chunk at a time. Under ASGI (daphne
    serves the admin in the one-process layout) Django reads a plain iterator whole into memory
    before sending anything: there each chunk is read on the request's own database thread as
    the response goes out. Under WSGI (gunicorn) the plain iterator streams as it is."""
    if not isinstance(request, ASGIRequest):
        return chunks

    def next_chunk() -> str | None:
        return next(chunks, None)

    async def one_at_a_time() -> AsyncIterator[str]:
        while (chunk := await sync_to_async(next_chunk)()) is not None:
            yield chunk

    return one_at_a_time()


def _change_summary(change: MessageChange, message: Message, names: dict[str, str]) -> tuple[str, str, str]:
    """What a change did, who did it and its details, for a message's history in the admin."""
    payload = change.payload or {}
    if change.seq != message.seq:  # the original this message replies to was deleted
        by = payload.get("by") or "?"
        return "original deleted", by, format_html("#{} deleted; this reply's quote shows it removed", change.seq)
    # A moderator's deletion in the admin or the API has no visitor, only the moderator's name.
    name = names.get(change.visitor) or payload.get("by") or ""
    by = _who(name, change.visitor) if change.visitor else payload.get("by") or "(a moderator)"
    details: str  # HTML-safe where it is made by format_html
    match change.kind:
        case MessageChange.Kind.EDIT:
            details = format_html("<del>{}</del> → <ins>{}</ins>", payload.get("previous", ""), payload.get("text", ""))
        case MessageChange.Kind.DELETE:
            details = payload.get("reason") or NO_REASON
        case MessageChange.Kind.REACT | MessageChange.Kind.UNREACT:
            details = payload.get("emoji", "")
        case MessageChange.Kind.PRUNE:
            by = "retention"
            details = format_html("the quoted message #{} was removed by the retention", message.reply_to_seq)
        case _:
            details = str(payload)
    return change.get_kind_display(), by, details


class SanctionForm(forms.ModelForm):
    """A sanction added by hand: refused for staff and staff's addresses, like every other."""

    moderator_ip: str | None = None  # set per request by SanctionAdmin.get_form

    class Meta:
        model = Sanction
        fields = ["kind", "visitor", "ip", "until", "reason"]
        labels = {"ip": "Address (bans or mutes everyone on it)"}

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data  # what ModelForm.clean returns
        visitor, ip = data.get("visitor", ""), data.get("ip")
        if not visitor and not ip:
            raise ValidationError("Name a visitor id, an address or both.")
        problem = moderation.protection_problem(visitor=visitor, ip=ip, moderator_ip=self.moderator_ip)
        if problem:
            raise ValidationError(f"Not allowed: {problem}.")
        return data


class LiftedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("in_force", "in force"), ("lifted", "lifted"), ("ended", "ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        running = Q(until__isnull=True) | Q(until__gt=now)
        match self.value():
            case "in_force":
                return queryset.filter(running, lifted_at__isnull=True)
            case "lifted":
                return queryset.filter(lifted_at__isnull=False)
            case "ended":
                return queryset.filter(lifted_at__isnull=True).exclude(running)
        return queryset


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin):
    """Mutes and bans, with the names their visitors went by. Nothing is ever deleted: lifting
    ends one and keeps the record (who lifted it, when, why)."""

    form = SanctionForm
    list_display = ["kind", "names", "address", "until_", "reason_", "state", "created_by", "created"]
    list_filter = ["kind", LiftedFilter]
    search_fields = ["visitor", "visitor_name", "ip", "seen_ip", "reason"]
    actions = ["lift_selected"]

    def get_form(self, request: HttpRequest, obj: Sanction | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change, **kwargs)
        assert issubclass(form, SanctionForm)  # made from self.form
        form.moderator_ip = _moderator_ip(request)
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: Sanction | None = None) -> list[str]:
        if obj is None:
            return []
        return [field.name for field in Sanction._meta.fields]  # a record: lift it, never rewrite it

    def has_delete_permission(self, request: HttpRequest, obj: Sanction | None = None) -> bool:
        return False  # lifting keeps the record

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Sanction], search_term: str):
        """By name too: any name the visitor went by in messages or online, not only the one stored."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            posted = Message.objects.filter(author__icontains=term).values("visitor")
            online = Presence.objects.filter(name__icontains=term).values("visitor")
            found |= queryset.filter(Q(visitor__in=posted) | Q(visitor__in=online)).exclude(visitor="")
        return found, may_have_duplicates

    def save_model(self, request: HttpRequest, obj: Sanction, form, change: bool) -> None:
        if not change:
            obj.created_by = _by(request)
            if obj.visitor:
                seen = selectors.visitor_seen(visitor=obj.visitor)
                obj.visitor_name = seen.name
                if seen.ip and not moderation.protection_problem(
                    visitor="", ip=seen.ip, moderator_ip=form.moderator_ip
                ):
                    obj.seen_ip = seen.ip
        super().save_model(request, obj, form, change)
        if not change:
            moderation.announce(obj)

    @admin.display(description="who")
    def names(self, sanction: Sanction) -> str:
        if not sanction.visitor:
            return "everyone on the address"
        names = selectors.names_of(visitor=sanction.visitor)
        if sanction.visitor_name and sanction.visitor_name not in names:
            names.insert(0, sanction.visitor_name)
        return _who(", ".join(names) or "(never seen)", sanction.visitor)

    @admin.display(description="address")
    def address(self, sanction: Sanction) -> str:
        if sanction.ip:
            return format_html("<strong>{}</strong> (address {})", sanction.ip, sanction.get_kind_display())
        if sanction.carried_from_id:
            return format_html("carried over from #{} (a new name on its address)", sanction.carried_from_id)
        if sanction.seen_ip:
            return format_html("identity only; new names from {} get it too", sanction.seen_ip)
        return "identity only"

    @admin.display(description="until", ordering="until")
    def until_(self, sanction: Sanction) -> str:
        return _full_time(sanction.until) if sanction.until else "until lifted"

    @admin.display(description="reason")
    def reason_(self, sanction: Sanction) -> str:
        return sanction.reason or NO_REASON

    @admin.display(description="state")
    def state(self, sanction: Sanction) -> str:
        if sanction.lifted_at:
            why = f": {sanction.lifted_reason}" if sanction.lifted_reason else ""
            return format_html("lifted {} by {}{}", _full_time(sanction.lifted_at), sanction.lifted_by or "?", why)
        if sanction.until and sanction.until <= timezone.now():
            return "ended"
        return "in force"

    @admin.display(description="created", ordering="created_at")
    def created(self, sanction: Sanction) -> str:
        return _full_time(sanction.created_at)

    @admin.action(description="Lift now (keeps the record)")
    def lift_selected(self, request: HttpRequest, selected: QuerySet[Sanction]):
        lines = [
            f"{sanction.get_kind_display()} of {sanction.visitor_name or sanction.visitor or sanction.ip}"
            for sanction in selected
        ]
        reason = confirm_with_reason(
            self, request, selected, title="Lift", lines=lines, reason_required=False, confirm_label="Yes, lift"
        )
        if not isinstance(reason, str):
            return reason
        lifted = sum(moderation.lift(sanction=sanction, by=_by(request), reason=reason) for sanction in selected)
        self.message_user(request, f"Lifted {lifted} sanction(s); the records stay.", messages.SUCCESS)
        return None


@admin.register(Presence)
class PresenceAdmin(admin.ModelAdmin):
    list_display = ["room_name", "name", "visitor", "staff", "ip", "last_seen"]
    list_filter = ["room_name", "staff"]
    search_fields = ["name", "visitor", "ip"]
    readonly_fields = [field.name for field in Presence._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Visitors' reports, newest first, with how often each message was reported and one-click
    actions on the reported message and its author."""

    list_display = ["created", "room", "message_", "author", "reports_on_message", "reporter", "reason_", "state"]
    list_filter = [("dismissed_at", admin.EmptyFieldListFilter), "message__room"]
    search_fields = [
        "name",
        "visitor",
        "ip",
        "reason",
        "message__author",
        "message__visitor",
        "message__ip",
        "message__text",
    ]
    ordering = ["-created_at", "-pk"]
    readonly_fields = [field.name for field in Report._meta.fields]
    actions = ["delete_messages", "mute_author_hour", "mute_author_day", "ban_author_forever", "dismiss"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False  # dismiss keeps the record

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        same_message = (
            Report.objects.filter(message=OuterRef("message"))
            .values("message")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("message__room")
            .annotate(reports_on_message=Coalesce(Subquery(same_message), 0))
        )

    @admin.display(description="reported at", ordering="created_at")
    def created(self, report: Report) -> str:
        return _full_time(report.created_at)

    @admin.display(description="room", ordering="message__room__name")
    def room(self, report: Report) -> str:
        return f"{report.message.room.name} #{report.message.seq}"

    @admin.display(description="message")
    def message_(self, report: Report) -> str:
        if report.message.deleted_at:
            return format_html("<s>{}</s> (deleted)", report.message.text[:TEXT_PREVIEW_CHARS])
        return _preview(report.message.text)

    @admin.display(description="author")
    def author(self, report: Report) -> str:
        return _who(report.message.author, report.message.visitor)

    @admin.display(description="reports of it", ordering="reports_on_message")
    def reports_on_message(self, report: WithAnnotations[Report, ReportCounts]) -> int:
        return report.reports_on_message

    @admin.display(description="reported by", ordering="name")
    def reporter(self, report: Report) -> str:
        return _who(report.name, report.visitor)

    @admin.display(description="reason")
    def reason_(self, report: Report) -> str:
        return report.reason or NO_REASON

    @admin.display(description="state")
    def state(self, report: Report) -> str:
        if report.dismissed_at:
            return format_html("dismissed {} by {}", _full_time(report.dismissed_at), report.dismissed_by or "?")
        return "open"

    def _reported_reason(self, selected: QuerySet[Report]) -> str:
        reasons = list(dict.fromkeys(report.reason for report in selected if report.reason))
        return ("reported: " + "; ".join(reasons))[:REASON_MAX_CHARS] if reasons else ""

    def _messages(self, selected: QuerySet[Report]) -> list[Message]:
        return list({report.message_id: report.message for report in selected}.values())

    @admin.action(description="Delete the reported messages for everyone")
    def delete_messages(self, request: HttpRequest, selected: QuerySet[Report]):
        reported = self._messages(selected)
        lines = [f"{message.room.name} #{message.seq} {message.author}: {message.text[:80]}" for message in reported]
        reason = confirm_with_reason(
            self,
            request,
            selected,
            title="Delete for everyone",
            lines=lines,
            initial_reason=self._reported_reason(selected),
        )
        if not isinstance(reason, str):
            return reason
        by = _by(request)
        deleted = sum(moderation.delete_message(message=message, by=by, reason=reason) for message in reported)
        self.message_user(request, f"Deleted {deleted} message(s).", messages.SUCCESS)
        return None

    @admin.action(description="Mute the authors for an hour")
    def mute_author_hour(self, request: HttpRequest, selected: QuerySet[Report]):
        return self._sanction(request, selected, "mute_author_hour")

    @admin.action(description="Mute the authors for a day")
    def mute_author_day(self, request: HttpRequest, selected: QuerySet[Report]):
        return self._sanction(request, selected, "mute_author_day")

    @admin.action(description="Ban the authors until lifted (their identity only)")
    def ban_author_forever(self, request: HttpRequest, selected: QuerySet[Report]):
        return self._sanction(request, selected, "ban_author_forever")

    def _sanction(self, request: HttpRequest, selected: QuerySet[Report], action: str):
        kind, duration, by_address, title = AUTHOR_ACTIONS[action]
        reported = self._messages(selected)
        reason = confirm_with_reason(
            self,
            request,
            selected,
            title=title,
            lines=describe_authors(reported, by_address=by_address),
            initial_reason=self._reported_reason(selected),
        )
        if not isinstance(reason, str):
            return reason
        sanction_authors(self, request, reported, kind=kind, duration=duration, by_address=by_address, reason=reason)
        return None

    @admin.action(description="Dismiss (keeps the record)")
    def dismiss(self, request: HttpRequest, selected: QuerySet[Report]):
        dismissed = moderation.dismiss_reports(reports=selected, by=_by(request))
        self.message_user(request, f"Dismissed {dismissed} report(s).", messages.SUCCESS)


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
