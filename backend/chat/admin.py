from django.contrib import admin

from chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seq", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["last_seq"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "text", "sent_at"]
    list_filter = ["room"]
    search_fields = ["author", "text"]
    # The log is append-only from the socket; the admin reads it (moderation comes with its own events).
    readonly_fields = ["room", "seq", "author", "text", "sent_at", "client_id"]
