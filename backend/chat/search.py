"""Search a room's log (``GET /api/rooms/<room>/search/?q=``): reads, plain typed functions.

A message is found when every word of the query is in its current text (an edited message by
its new text; deleted messages never). Newest first, a page at a time. Each engine answers with
what it has (ARCHITECTURE.md "Search"):

- **PostgreSQL**: full-text search, the ``simple`` configuration (no stemming, so no language is
  favoured), over a GIN index of the text's tsvector (migration 0008). A word of letters and
  digits matches the start of a word of the text ("ram" finds "ramen"). A word of a script
  written without spaces (Japanese, Chinese, Thai...), which the parser cannot split, or one
  with punctuation ("c++", "example.com"), is looked for anywhere in the text instead (ILIKE).
- **SQLite**: an FTS5 table with the ``trigram`` tokenizer, kept in step with ``chat_message`` by
  triggers (migration 0008; ``ensure_sqlite_index`` puts them back if a later migration's table
  rebuild dropped them). Trigrams find any substring of 3 characters or more, Japanese included;
  a shorter word (a two-character word such as 東京) is looked for with LIKE in the room's
  messages instead, newest first until the page is full.
- **MySQL/MariaDB**: LIKE in the room's messages, wildcards in the query escaped. InnoDB's
  FULLTEXT would not do: its parser neither splits Japanese nor indexes words under
  ``innodb_ft_min_token_size`` (3), and MariaDB has no n-gram parser. Its ``_ci`` collations
  also ignore case and accents.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TypedDict

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from chat.identity import visitor_tag
from chat.models import Message, Room
from chat.protocol import format_timestamp
from chat.wordfilter import written_without_spaces

# Results in one answer; ?before_seq= (the last result's seq) asks for the next ones.
SEARCH_PAGE_SIZE = 20
# The longest query, in characters, and its most words: a query is something a person types.
SEARCH_MAX_QUERY_CHARS = 100
SEARCH_MAX_WORDS = 8
# The SQLite index is of trigrams: a word under this many characters cannot be looked up in it.
TRIGRAM_CHARS = 3
# PostgreSQL's text search configuration: 'simple' lower-cases and nothing else.
POSTGRES_CONFIG = "simple"
# A word PostgreSQL's parser reads as one word: letters and digits only.
_PLAIN_WORD = re.compile(r"[^\W_]+")

SQLITE_FTS_TABLE = "chat_message_fts"
SQLITE_TRIGGERS = {
    "chat_message_fts_insert": f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message "
    f"BEGIN INSERT INTO {SQLITE_FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    "chat_message_fts_delete": f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message "
    f"BEGIN INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
    "chat_message_fts_update": f"CREATE TRIGGER IF NOT EXISTS chat_message_fts_update AFTER UPDATE OF text ON "
    f"chat_message BEGIN INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, text) VALUES ('delete', old.id, "
    f"old.text); INSERT INTO {SQLITE_FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
}


class SearchResultDict(TypedDict):
    seq: int
    author: str
    tag: str
    staff: bool
    text: str
    sent_at: str  # ISO 8601 UTC, as in `message` events
    edited: bool


@dataclass(frozen=True)
class Found:
    messages: list[Message]  # newest first
    has_more: bool  # older matches exist: ask again with before_seq = messages[-1].seq


def query_problem(query: str) -> str | None:
    """Why ``query`` cannot be searched for (it is said in the 400's message), or None."""
    if not query.strip():
        return "'q' must hold the words to look for"
    if len(query) > SEARCH_MAX_QUERY_CHARS:
        return f"'q' is limited to {SEARCH_MAX_QUERY_CHARS} characters"
    if any(unicodedata.category(char) == "Cc" and not char.isspace() for char in query):
        return "'q' must not hold control characters"
    if len(query.split()) > SEARCH_MAX_WORDS:
        return f"'q' is limited to {SEARCH_MAX_WORDS} words"
    return None


def query_words(query: str) -> list[str]:
    """The words every result must hold: the query split at white space, each once."""
    return list(dict.fromkeys(query.split()))


def room_for_search(*, room_name: str) -> Room | None:
    return Room.objects.filter(name=room_name).only("id", "name").first()


def search_room(*, room: Room, query: str, before_seq: int | None = None, limit: int = SEARCH_PAGE_SIZE) -> Found:
    """The room's messages (not deleted) whose current text holds every word of ``query``, newest
    first, at most ``limit``, all with seq < ``before_seq`` when given. ``query`` must pass
    ``query_problem``."""
    found = Message.objects.filter(room=room, deleted_at__isnull=True)
    if before_seq is not None:
        found = found.filter(seq__lt=before_seq)
    found = _matching(found, query_words(query))
    newest_first = list(found.select_related("room").order_by("-seq")[: limit + 1])
    return Found(messages=newest_first[:limit], has_more=len(newest_first) > limit)


def result_dict(message: Message) -> SearchResultDict:
    return {
        "seq": message.seq,
        "author": message.author,
        "tag": visitor_tag(message.visitor),
        "staff": message.staff,
        "text": message.text,
        "sent_at": format_timestamp(message.sent_at),
        "edited": message.edited_at is not None,
    }


def _matching(messages: QuerySet[Message], words: list[str]) -> QuerySet[Message]:
    vendor = connection.vendor
    if vendor == "postgresql":
        return _postgres_matching(messages, words)
    if vendor == "sqlite" and sqlite_index_exists():
        return _sqlite_matching(messages, words)
    return _anywhere(messages, words)


def _anywhere(messages: QuerySet[Message], words: list[str]) -> QuerySet[Message]:
    """Each word anywhere in the text: Django's ``icontains`` escapes ``%``, ``_`` and ``\\``."""
    for word in words:
        messages = messages.filter(text__icontains=word)
    return messages


def _postgres_matching(messages: QuerySet[Message], words: list[str]) -> QuerySet[Message]:
    from django.contrib.postgres.search import SearchQuery, SearchVector

    plain = [word for word in words if _PLAIN_WORD.fullmatch(word) and not any(map(written_without_spaces, word))]
    rest = [word for word in words if word not in plain]
    if plain:
        # Each word a prefix; quoted, so nothing in it is read as tsquery syntax.
        raw = " & ".join(f"'{word}':*" for word in plain)
        # The same expression as the GIN index of migration 0008, or the index would not be used.
        vector = SearchVector("text", config=POSTGRES_CONFIG)
        messages = messages.alias(search=vector).filter(
            search=SearchQuery(raw, config=POSTGRES_CONFIG, search_type="raw")
        )
    return _anywhere(messages, rest)


def _sqlite_matching(messages: QuerySet[Message], words: list[str]) -> QuerySet[Message]:
    indexed = [word for word in words if len(word) >= TRIGRAM_CHARS]
    if indexed:
        # FTS5 query syntax: each word a quoted string (a substring, for trigrams); all of them.
        match = " ".join('"' + word.replace('"', '""') + '"' for word in indexed)
        rowids = RawSQL(f"SELECT rowid FROM {SQLITE_FTS_TABLE} WHERE {SQLITE_FTS_TABLE} MATCH %s", [match])
        messages = messages.filter(id__in=rowids)
    return _anywhere(messages, [word for word in words if len(word) < TRIGRAM_CHARS])


# --- SQLite's index table and its triggers ------------------------------------------------------

_sqlite_index: dict[str, bool] = {}  # database name -> whether it has the FTS5 table


def sqlite_index_exists(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether this SQLite database has the search table (not when its SQLite lacks FTS5 or the
    trigram tokenizer: search then looks with LIKE). Asked once per database and process."""
    database = connections[using]
    name = str(database.settings_dict["NAME"])
    if name not in _sqlite_index:
        with database.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [SQLITE_FTS_TABLE])
            _sqlite_index[name] = cursor.fetchone() is not None
    return _sqlite_index[name]


def ensure_sqlite_index(using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> bool:
    """Put back the triggers that keep the SQLite search table in step, and rebuild the table,
    if any is missing: Django rebuilds a table it alters on SQLite (copy, drop, rename), and
    dropping ``chat_message`` drops its triggers. Run after every ``migrate`` (``post_migrate``).
    True when something had to be put back."""
    database = connections[using]
    if database.vendor != "sqlite":
        return False
    _sqlite_index.pop(str(database.settings_dict["NAME"]), None)
    if not sqlite_index_exists(using):
        return False
    with database.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'chat_message'")
        present = {row[0] for row in cursor.fetchall()}
        missing = [sql for name, sql in SQLITE_TRIGGERS.items() if name not in present]
        if not missing:
            return False
        for statement in missing:
            cursor.execute(statement)
        cursor.execute(f"INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}) VALUES ('rebuild')")
    return True
