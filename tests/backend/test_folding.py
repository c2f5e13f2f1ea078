"""Names and the word filter against real evasions: invisible code points, look-alike letters from
other scripts, full-width and styled letters, spaced-out words (chat.folding, chat.names,
chat.wordfilter)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.conf import DEFAULT_RESERVED_NAMES
from chat.folding import DEFAULT_IGNORABLE_RANGES, fold_text, is_invisible, name_key, single_letter_runs
from chat.identity import visitor_tag
from chat.names import display_name_problem, is_reserved_name
from chat.wordfilter import HOLD, PATTERN, REFUSE, WORD, Entry, WordFilter, entry_problem
from tests.selection import examples

# --- Names -------------------------------------------------------------------------------------

INVISIBLE_NAMES = {
    "variation selector 16 after admin": "admin\ufe0f",
    "combining grapheme joiner inside admin": "ad\u034fmin",
    "variation selector 15 after moderator": "moderator\ufe0e",
    "variation selector 17 after staff": "staff\U000e0100",
    "Hangul filler": "\u3164",
    "Hangul choseong filler": "\u115f",
    "Hangul jungseong filler": "\u1160",
    "halfwidth Hangul filler": "\uffa0",
    "Braille blank": "\u2800",
    "three Braille blanks": "\u2800\u2800\u2800",
    "Hangul fillers around a letter": "\u3164a\u3164",
    "soft hyphen": "ad\u00admin",
    "zero-width joiner": "ad\u200dmin",
    "word joiner": "ad\u2060min",
    "tag letters": "Ann\U000e0041\U000e0042",
    "Mongolian variation selector": "Ann\u180b",
    "Khmer inherent vowel": "Ann\u17b4",
    "line separator": "Ann\u2028Lee",
}


@pytest.mark.parametrize("name", INVISIBLE_NAMES.values(), ids=INVISIBLE_NAMES.keys())
def test_names_with_invisible_code_points_are_refused(name):
    assert display_name_problem(name) == "a name must not contain control or invisible characters"


@pytest.mark.parametrize("name", ["Ann", "Zoë", "山田 太郎", "Ｋｅｎ", "🙂", "Mod-erator", "Ann Lee", "ノア", "한국어"])
def test_visible_names_are_still_accepted(name):
    assert display_name_problem(name) is None


def test_every_default_ignorable_code_point_is_refused():
    for low, high in DEFAULT_IGNORABLE_RANGES:
        for code_point in (low, (low + high) // 2, high):
            assert is_invisible(chr(code_point)), hex(code_point)


LOOK_ALIKE_RESERVED = {
    "Cyrillic a": "\u0430dmin",
    "Cyrillic a, d, i": "\u0430\u0501m\u0456n",
    "Greek omicron": "m\u03bfderator",
    "Cyrillic s": "\u0455taff",
    "full-width": "ＡＤＭＩＮ",
    "mathematical bold": "𝐚𝐝𝐦𝐢𝐧",
    "circled letters": "ⓐⓓⓜⓘⓝ",
    "long s": "ſtaff",
    "dotless i": "adm\u0131n",
    "spaced": "ad min",
    "dotted": "A.D.M.I.N",
    "hyphenated": "Mod-erator",
    "upper case": "SYSTEM",
}


@pytest.mark.parametrize("name", LOOK_ALIKE_RESERVED.values(), ids=LOOK_ALIKE_RESERVED.keys())
def test_reserved_names_are_compared_after_folding_look_alikes(name):
    assert display_name_problem(name) is None  # drawn with visible letters only...
    assert is_reserved_name(name, DEFAULT_RESERVED_NAMES)  # ...but it reads as a reserved name


@pytest.mark.parametrize("name", ["Ann", "admin2", "the admin", "Adm1n", "moderators", "Dan", "Ädmin", "staffer"])
def test_names_that_only_contain_or_resemble_a_reserved_one_are_free(name):
    assert not is_reserved_name(name, DEFAULT_RESERVED_NAMES)


# --- Tags ---------------------------------------------------------------------------------------


def test_a_tag_is_short_stable_and_differs_between_visitors():
    assert visitor_tag("v1-dan") == visitor_tag("v1-dan")
    assert len(visitor_tag("v1-dan")) == 4
    assert set(visitor_tag("v1-dan")) <= set("0123456789abcdefghjkmnpqrstvwxyz")
    tags = {visitor_tag(f"visitor-{number}") for number in range(200)}
    assert len(tags) >= 195  # 20 bits: people of one name in a room practically never share one
    assert visitor_tag("") == ""


# --- The word filter ----------------------------------------------------------------------------

FILTER = WordFilter(
    [
        Entry("badword", WORD, REFUSE),
        Entry("spam link", WORD, REFUSE),
        Entry("ass", WORD, REFUSE),
        Entry("ばか", WORD, REFUSE),
        Entry("maybe", WORD, HOLD),
        Entry(r"free\s+crypto", PATTERN, HOLD),
    ]
)

EVASIONS = {
    "plain": ("this is a badword here", REFUSE),
    "upper case": ("BADWORD!", REFUSE),
    "spaced out": ("b a d w o r d", REFUSE),
    "dotted": ("b.a.d.w.o.r.d", REFUSE),
    "hyphens and underscores": ("b-a-d_w-o-r-d", REFUSE),
    "spaced out inside a sentence": ("you are a b a d w o r d ok", REFUSE),
    "ideographic spaces": ("b\u3000a\u3000d\u3000w\u3000o\u3000r\u3000d", REFUSE),
    "zero-width spaces": ("bad\u200bword", REFUSE),
    "zero-width joiners and soft hyphens": ("b\u200da\u00add\u2060word", REFUSE),
    "variation selectors": ("bad\ufe0fword\ufe0e", REFUSE),
    "Cyrillic look-alikes": ("b\u0430dw\u043erd", REFUSE),
    "Greek look-alikes": ("badw\u03bfrd", REFUSE),
    "full-width": ("ｂａｄｗｏｒｄ", REFUSE),
    "mathematical styles": ("𝐛𝐚𝐝𝐰𝐨𝐫𝐝", REFUSE),
    "circled letters": ("ⓑⓐⓓⓦⓞⓡⓓ", REFUSE),
    "accents": ("bádwörd", REFUSE),
    "zalgo marks": ("b\u0336a\u0336d\u0336word", REFUSE),
    "a phrase across a line break": ("spam\nlink", REFUSE),
    "a phrase with extra spaces": ("spam    link", REFUSE),
    "Japanese inside a sentence": ("あいつはばかだ", REFUSE),
    "Japanese spaced out": ("ば か", REFUSE),
    "Japanese full-width spaced": ("ば\u3000か", REFUSE),
    "hold: plain": ("maybe later", HOLD),
    "hold: look-alike": ("m\u0430ybe", HOLD),
    "hold: pattern": ("get FREE   crypto now", HOLD),
    "hold: pattern with look-alikes": ("ｆｒｅｅ сrурtо", HOLD),
    "refusing wins over holding": ("maybe badword", REFUSE),
}


@pytest.mark.parametrize("text, action", EVASIONS.values(), ids=EVASIONS.keys())
def test_evasions_are_caught(text, action):
    verdict = FILTER.verdict(text)
    assert verdict is not None, text
    assert verdict.action == action


INNOCENT = {
    "a word containing a blocked one": "a class of its own",
    "another": "passing the assessment",
    "near miss": "bad words",
    "a sentence with single letters": "I am a fan of C and R",
    "accents in ordinary text": "café crème",
    "Japanese without the word": "ありがとう",
    "empty after folding": "\u200b",
    "the pattern's words apart": "free for all, crypto later",
}


@pytest.mark.parametrize("text", INNOCENT.values(), ids=INNOCENT.keys())
def test_ordinary_text_passes(text):
    assert FILTER.verdict(text) is None


def test_an_empty_filter_passes_everything():
    assert WordFilter([]).verdict("badword") is None


@pytest.mark.parametrize(
    "text, kind, problem",
    [
        ("(unclosed", PATTERN, "not a regular expression"),
        ("a*", PATTERN, "matches empty text"),
        ("x" * 201, PATTERN, "at most 200"),
        ("\u200b\u200b", WORD, "no letters left"),
        ("   ", WORD, "no letters left"),
    ],
)
def test_unusable_entries_are_explained(text, kind, problem):
    assert problem in entry_problem(text, kind)


def test_an_unusable_stored_entry_is_skipped_not_fatal():
    assert len(WordFilter([Entry("(unclosed", PATTERN, REFUSE), Entry("badword", WORD, REFUSE)])) == 1


def test_spaced_out_letters_are_joined_and_words_left_alone():
    assert single_letter_runs("you are b a d, ok?") == ["bad"]
    assert single_letter_runs("b.a.d then w-o-r-s-e") == ["bad", "worse"]
    assert single_letter_runs("nothing to join here") == []


# --- Properties ---------------------------------------------------------------------------------

IGNORABLES = st.sampled_from(
    ["\u00ad", "\u034f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufe0e", "\ufe0f", "\ufeff", "\U000e0100",
     "\U000e0041", "\u180b", "\u17b4", "\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u202e", "\u2066"]
)  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=40))
def test_folding_is_idempotent(text):
    assert fold_text(fold_text(text)) == fold_text(text)
    assert name_key(name_key(text)) == name_key(text)


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(DEFAULT_RESERVED_NAMES), st.data())
def test_no_reserved_name_survives_folding_with_inserted_ignorables(reserved, data):
    letters = list(reserved)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(letters)))
        letters.insert(position, data.draw(IGNORABLES))
    disguised = "".join(letters)
    assert name_key(disguised) == name_key(reserved)
    assert is_reserved_name(disguised, DEFAULT_RESERVED_NAMES)
    assert display_name_problem(disguised) is not None  # and the name is refused before that


@settings(max_examples=examples(200), deadline=None)
@given(st.text(min_size=1, max_size=60), st.lists(IGNORABLES, max_size=5), st.randoms(use_true_random=False))
def test_ignorables_inserted_into_a_text_never_change_the_verdict(text, ignorables, random):
    characters = list(text + " badword")
    for ignorable in ignorables:
        characters.insert(random.randint(0, len(characters)), ignorable)
    assert FILTER.verdict("".join(characters)) is not None


# --- The identity API -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, code",
    [("\u3164", "invalid_name"), ("\u2800\u2800", "invalid_name"), ("admin\ufe0f", "invalid_name"),
     ("\u0430dmin", "reserved_name"), ("A.D.M.I.N", "reserved_name")],
)  # fmt: skip
def test_the_identity_api_refuses_invisible_and_look_alike_names_with_codes_the_widget_knows(client, name, code):
    response = client.post("/api/identity/", {"name": name}, content_type="application/json", secure=True)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
