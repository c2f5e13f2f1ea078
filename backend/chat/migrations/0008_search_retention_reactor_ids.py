# Staff tools of the conversation features:
#
# - Room.pruned_seq: the highest seq the retention removed (chat.retention); the log starts after it.
# - MessageChange.Kind gains "prune" (the quotes of replies to removed originals show them removed),
#   and an index on (room, seq): the retention deletes changes by seq, the admin lists them by seq.
# - Search (chat.search), per engine: PostgreSQL, a GIN index over the text's tsvector (the
#   'simple' configuration, the very expression chat.search queries); SQLite, an FTS5 table with
#   the trigram tokenizer (it finds Japanese, which has no spaces between words), kept in sync with
#   chat_message by triggers; MySQL/MariaDB, nothing (chat.search scans a room with LIKE there).
# - Each message's reaction summary gains `visitors`, the reactors' public ids beside `names`.

from django.db import migrations, models

# SQLite: the index of message texts. External content (the text is stored once, in chat_message);
# the triggers below keep it in step, and chat.search re-creates them if a later migration that
# rebuilds chat_message (Django copies the table on SQLite) dropped them.
SQLITE_FTS_TABLE = "chat_message_fts"
SQLITE_CREATE = [
    f"CREATE VIRTUAL TABLE {SQLITE_FTS_TABLE} USING fts5("
    "text, content='chat_message', content_rowid='id', tokenize='trigram')",
    f"INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}) VALUES ('rebuild')",
]
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message BEGIN "
    f"INSERT INTO {SQLITE_FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message BEGIN "
    f"INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_update AFTER UPDATE OF text ON chat_message BEGIN "
    f"INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
    f"INSERT INTO {SQLITE_FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS chat_message_fts_insert",
    "DROP TRIGGER IF EXISTS chat_message_fts_delete",
    "DROP TRIGGER IF EXISTS chat_message_fts_update",
    f"DROP TABLE IF EXISTS {SQLITE_FTS_TABLE}",
]
POSTGRES_INDEX = "chat_message_text_search"


def _postgres_index():
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    # Built from the same expression chat.search filters on, so the planner can use it.
    return GinIndex(SearchVector("text", config="simple"), name=POSTGRES_INDEX)


def create_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.add_index(apps.get_model("chat", "Message"), _postgres_index())
    elif vendor == "sqlite":
        from django.db import OperationalError

        try:
            for statement in SQLITE_CREATE:
                schema_editor.execute(statement)
        except OperationalError:
            # An SQLite without FTS5 or its trigram tokenizer (before 3.34): chat.search finds
            # no index table and scans a room with LIKE instead, as on MySQL/MariaDB.
            return
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def drop_search_index(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("chat", "Message"), _postgres_index())
    elif vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


# As chat.changes.reaction_summary writes them (REACTION_EMOJI order, the first 20 reactors).
REACTION_EMOJI = ("👍", "❤️", "😂", "😮", "😢", "🎉")
REACTION_NAMES_SHOWN = 20


def add_reactor_ids(apps, schema_editor):
    """Rewrite every reacted-to message's summary from its Reaction rows, with ``visitors``."""
    Message = apps.get_model("chat", "Message")
    Reaction = apps.get_model("chat", "Reaction")
    reacted = Reaction.objects.values_list("message_id", flat=True).distinct().order_by("message_id")
    for message_id in list(reacted):
        counts: dict[str, int] = {}
        names: dict[str, list[str]] = {}
        visitors: dict[str, list[str]] = {}
        rows = Reaction.objects.filter(message_id=message_id).order_by("id").values_list("emoji", "name", "visitor")
        for key, name, visitor in rows:
            emoji = "".join(chr(int(code, 16)) for code in key.split("-"))
            counts[emoji] = counts.get(emoji, 0) + 1
            if len(names.setdefault(emoji, [])) < REACTION_NAMES_SHOWN:
                names[emoji].append(name)
                visitors.setdefault(emoji, []).append(visitor)
        summary = [
            {"emoji": emoji, "count": counts[emoji], "names": names[emoji], "visitors": visitors[emoji]}
            for emoji in REACTION_EMOJI
            if emoji in counts
        ]
        Message.objects.filter(pk=message_id).update(reactions=summary)


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0007_conversation_changes'),
    ]

    operations = [
        migrations.AddField(
            model_name='room',
            name='pruned_seq',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='messagechange',
            name='kind',
            field=models.CharField(choices=[('edit', 'edit'), ('delete', 'delete'), ('react', 'react'), ('unreact', 'unreact'), ('prune', 'prune')], max_length=8),
        ),
        # The retention deletes a room's changes by seq; the admin lists a message's changes by seq.
        migrations.AddIndex(
            model_name='messagechange',
            index=models.Index(fields=['room', 'seq'], name='chat_messagechange_room_seq'),
        ),
        migrations.RunPython(create_search_index, drop_search_index, elidable=False),
        migrations.RunPython(add_reactor_ids, migrations.RunPython.noop, elidable=False),
    ]
