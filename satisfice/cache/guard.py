"""The correctness guard of the semantic cache: after a cosine match, refuse near-misses.

Sentence embeddings put "turn on the lights" and "turn off the lights" (or "in 3 sentences" and "in 5
sentences", "in Python" and "in Rust") almost on top of each other, so a similarity threshold alone serves
wrong answers. The guard compares the facts that change an answer and that a paraphrase keeps:

- negation: negation words, negating prefixes (lock/unlock, legal/illegal), opposite words (on/off);
- numbers (digits and number words: "3" equals "three"), dates and times, units;
- named entities (capitalised or mixed-case words, identifiers, digit-bearing tokens such as python3,
  a letter that is no word as in "vitamin d"), identifiers joined by '-', '_' or '.' taken whole
  (gpt-4o is not gpt-4, claude-3-opus not claude-3-sonnet, config.yaml not config.json) with an edition
  word next to them (iphone 15 pro), and constraint words from closed classes (programming and human
  languages, formats, tones, audiences);
- arithmetic and comparison signs ("5 + 3" is not "5 - 3"), and the order of the operands around them;
- word order, when both texts use the same content words: "Is the sun older than the earth?" is not
  "Is the earth older than the sun?", though a mean-of-tokens embedding puts them at cosine 1.0.

Any difference rejects: a false hit serves a wrong answer, a false miss only costs one upstream call.
Pure Python, deterministic, no network; tens of microseconds for a chat prompt.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from satisfice.cache import guard_lexicon as lex


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool  # True: the cached answer may be served for the query
    # The kind of difference only ("numbers differ", "negation differs", "same"): it goes into the
    # response's headers and the ledger, so it must never quote the stored prompt (another caller's).
    reason: str
    # The words that differ ("3 vs 5"), for offline diagnosis (scripts/eval_cache_guard.py) only.
    detail: str = ""


_TEXT_PARTS = ("text", "input_text")


def text_turn(messages: list[Any]) -> dict[str, Any] | None:
    """The last message when its content is text only (a string, or text parts); None when it carries
    an image, audio, a file or anything else the guard cannot compare: such a request is never matched
    by meaning, since two of them with the same words may ask about different pictures."""
    last = messages[-1] if messages else None
    if not isinstance(last, dict):
        return None
    content = last.get("content")
    if content is None or isinstance(content, str):
        return last
    if isinstance(content, list) and all(
        isinstance(p, str) or (isinstance(p, dict) and p.get("type") in _TEXT_PARTS) for p in content
    ):
        return last
    return None


def conversation_text(messages: list[dict[str, Any]]) -> str:
    """OpenAI messages -> one text ("role: content" lines), for embedding and guard.

    Content may be a string or a list of parts; non-text parts (images, audio) are skipped, so only
    a text-only message (see text_turn) may be compared by it. Tool calls add their names and
    arguments, so two requests that differ only there never look the same."""
    lines: list[str] = []
    for m in messages:
        role = str(m.get("role") or "user")
        parts = [_content_text(m.get("content"))]
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {} if isinstance(call, dict) else {}
            parts.append(f"[tool call {fn.get('name', '')}({fn.get('arguments', '')})]")
        legacy = m.get("function_call")
        if isinstance(legacy, dict):
            parts.append(f"[tool call {legacy.get('name', '')}({legacy.get('arguments', '')})]")
        lines.append(f"{role}: " + " ".join(p for p in parts if p))
    return "\n".join(lines)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
                texts.append(str(part.get("text") or ""))
        return " ".join(texts)
    return ""


def guard(query: str, cached: str) -> GuardVerdict:
    """May the answer cached for `cached` be served for `query`? Conservative: any doubt rejects."""
    if query == cached:
        return GuardVerdict(True, "same")
    a, b = _features(query), _features(cached)
    for check in _CHECKS:
        found = check(a, b)
        if found is not None:
            return GuardVerdict(False, found[0], found[1])
    return GuardVerdict(True, "same")


Difference = tuple[str, str] | None  # (kind, the words that differ)


def _counted(a: _Features, b: _Features) -> Difference:
    for name, fa, fb in (
        ("negation differs", a.negation, b.negation),
        ("numbers differ", a.numbers, b.numbers),
        ("dates differ", a.dates, b.dates),
    ):
        if fa != fb:
            return name, f"{_show(fa - fb)} vs {_show(fb - fa)}"
    if a.units != b.units:
        return "units differ", f"{_show(a.units)} vs {_show(b.units)}"
    return None


def _maths(a: _Features, b: _Features) -> Difference:
    """The signs must be the same, in order; with a sign about, so must the operands' order."""
    if a.operators != b.operators:
        return "operators differ", f"{' '.join(a.operators) or 'none'} vs {' '.join(b.operators) or 'none'}"
    if a.operators and a.maths != b.maths:
        return "order differs", f"{' '.join(a.maths)} vs {' '.join(b.maths)}"
    return None


def _opposed(a: _Features, b: _Features) -> Difference:
    opposite = _prefixed(a.words, b.words) or _opposites(a.lemmas, b.lemmas)
    return ("negation differs", opposite) if opposite else None


def _classes(a: _Features, b: _Features) -> Difference:
    ca, cb = a.lemmas.keys() & _CLASS_WORDS, b.lemmas.keys() & _CLASS_WORDS
    if ca == cb:  # the usual case: one set operation instead of one per class
        return None
    for cls, members in lex.CLASSES.items():
        if ca & members != cb & members:
            return f"{cls} differs", f"{_show((ca - cb) & members)} vs {_show((cb - ca) & members)}"
    return None


_CLASS_WORDS = frozenset(w for members in lex.CLASSES.values() for w in members)


def _names(a: _Features, b: _Features) -> Difference:
    lost = _unmatched(a.entities, b) or _unmatched(b.entities, a)
    if lost:
        return "entities differ", lost
    rare = _unstemmed(a.rare, b.words) or _unstemmed(b.rare, a.words)
    if rare:  # lower-cased names and terms: "penicillin" vs "insulin"
        return "rare terms differ", rare
    return None


def _order(a: _Features, b: _Features) -> Difference:
    """The same content words in another order ask another question ("is the sun older than the
    earth"): a reordering is not a paraphrase. Two sorts of short tuples: cheap."""
    same_length = len(a.content) == len(b.content)
    if same_length and a.content != b.content and sorted(a.content) == sorted(b.content):
        return "word order differs", f"{' '.join(a.content)} vs {' '.join(b.content)}"
    return None


def _swapped(a: _Features, b: _Features) -> Difference:
    """One content word put in another's place, the others the same and in the same places: "the
    chemical symbol for gold" is not "... for silver", nor "is the earth flat" "is the earth round",
    though their cosine is high (co-hyponyms are neighbours) and no check above tells gold from silver.
    Only a single swap: a rewording that changes several words is left to the other checks."""
    if len(a.content) != len(b.content):
        return None
    swaps = [(x, y) for x, y in zip(a.content, b.content, strict=True) if x != y]
    if len(swaps) != 1:
        return None
    x, y = swaps[0]
    if not (x.isalpha() and y.isalpha()) or x in lex.REWORDED or y in lex.REWORDED:
        return None
    if x in lex.NUMBER_WORDS or y in lex.NUMBER_WORDS or _same_word(x, y):
        return None
    return "a word differs", f"{x} vs {y}"


def _same_word(x: str, y: str) -> bool:
    """Two forms of one word: the same lemma, one inflecting the other, or a shared 5-letter stem."""
    if _lemma(x) == _lemma(y) or (len(x) >= 5 and len(y) >= 5 and x[:5] == y[:5]):
        return True
    short, long = sorted((x, y), key=len)
    return long.startswith(short) and long[len(short) :] in ("s", "es", "d", "ed", "ing", "er", "ly")


_CHECKS = (_counted, _maths, _opposed, _classes, _names, _order, _swapped)


@dataclass(frozen=True)
class _Features:
    text: str
    words: frozenset[str]  # lower-cased words
    lemmas: dict[str, int]  # crude lemmas (plural/-ed/-ing stripped where the lexicon knows the word)
    negation: Counter[str]
    numbers: Counter[str]
    dates: Counter[str]
    units: tuple[str, ...]  # in order: "10 miles to km" is not "10 km to miles"
    entities: frozenset[str]  # each must be among the other text's words or _spellings
    rare: frozenset[str]  # words outside the common vocabulary (after stripping inflections)
    operators: tuple[str, ...]  # arithmetic and comparison signs, in order
    maths: tuple[str, ...]  # numbers, signs and one-letter variables, in order (compared when signs occur)
    content: tuple[str, ...]  # words but function words, and signs, in order


_TOKEN = re.compile(
    r"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?"  # 3, 1,000, 2.5, 6:30, 3/4, 2023-05 (split at '-'), 21st
    r"|[^\W\d_][^\W_]*(?:[+#]+|(?:['\u2019][^\W\d_]+)?)"  # words (any script), c++, c#, don't
    r"|[$€£¥%°]"
    r"|(?P<sign>\*\*|[<>!=]=|[-+*/^=<>\u00d7\u00f7\u2264\u2265\u2260\u2212])"  # maths (see _is_sign)
)
_SENTENCE_END = re.compile(r"[.!?:;\n\"“(]")
_MIXED = re.compile(r"[A-Za-z].*(?:[A-Z]|\d)|\d.*[A-Za-z]")  # iPhone, useEffect, GDPR, S24, python3


@functools.lru_cache(maxsize=4096)  # a hot cached entry is guarded again and again
def _features(text: str) -> _Features:
    words: list[str] = []
    tokens: list[str] = []  # words and signs in order
    entities: set[str] = set()
    end = 0  # where the previous word ended: the gap since then tells whether a sentence starts
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if m.lastgroup == "sign":
            if _is_sign(text, m.start(), m.end()):
                tokens.append(_SIGNS.get(tok, tok))
            continue
        low = tok.lower().replace("\u2019", "'")  # typographic apostrophe
        if tok[0].isalpha():
            starts = end == 0 or _SENTENCE_END.search(text, end, m.start()) is not None
            # A word with a letter outside ASCII (another script, an accent) must be in the other text as
            # it is: the word lists are English, and Chinese or Japanese has no spaces to find words by.
            foreign = not tok.isascii()
            if foreign or _is_entity(tok, starts) or (len(tok) == 1 and _is_label(text, m.start(), m.end())):
                entities.add(_expand(low)[0])
        words.extend(_expand(low))
        tokens.extend(_expand(low))
        end = m.end()
    lemmas: Counter[str] = Counter(_lemma(w) for w in words)
    operators = tuple(t for t in tokens if t in _SIGN_SET)
    return _Features(
        text=text,
        words=frozenset(words),
        lemmas=dict(lemmas),
        negation=_negations(words),
        numbers=_numbers(words),
        dates=_dates(words),
        units=tuple(u for w in words if (u := lex.UNITS.get(_lemma(w)) or lex.UNITS.get(w))),
        entities=frozenset(entities | _ids(text, entities, words)),
        rare=frozenset(w for w in words if _is_rare(w)),
        operators=operators,
        maths=tuple(x for t in tokens if (x := _maths_token(t))) if operators else (),
        content=tuple(t for t in tokens if t not in lex.FUNCTION_WORDS),
    )


# One spelling of each sign: minus, times, divided by, at most, at least, not equal.
_SIGNS = {
    "\u2212": "-",
    "\u00d7": "*",
    "\u00f7": "/",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "==": "=",
}
_SIGN_SET = frozenset(["+", "-", "*", "/", "^", "=", "<", ">", "<=", ">=", "!=", "**"])


def _is_sign(text: str, start: int, end: int) -> bool:
    """A sign counts unless it is a '-' or '/' in prose: those count between operands (a digit, a
    bracket or a one-letter variable: "5 - 3", "x/y", "(a)-(b)") and, for '-', before a number that
    does not follow a word ("-5", not "covid-19"). "well-known", "and/or", "km/h" carry no sign."""
    sign = text[start:end]
    if sign not in ("-", "/"):
        return True
    before, after = text[max(0, start - 3) : start], text[end : end + 3]
    if sign == "-" and after[:1].isdigit() and not before[-1:].isalnum():
        return True  # a negative number
    return _operand(before.rstrip()[-2:], left=True) and _operand(after.lstrip()[:2], left=False)


def _operand(chars: str, *, left: bool) -> bool:
    """Whether the characters next to a sign (nearest last when left) end or start an operand."""
    near = chars[-1:] if left else chars[:1]
    far = chars[:-1] if left else chars[1:]
    if not near:
        return False  # the start or end of the text
    if near.isdigit() or near in (")]" if left else "(["):
        return True
    return near.isalpha() and not far.isalpha()  # a one-letter variable, not the end of a word


def _maths_token(t: str) -> str:
    """How a token takes part in an expression ("" when it does not): numbers in one form, signs,
    and one-letter variables ("a" and "i" are words)."""
    if t in _SIGN_SET:
        return t
    if t[0].isdigit():
        return _number_form(t)
    if t in lex.NUMBER_WORDS:
        return lex.NUMBER_WORDS[t]
    return t if len(t) == 1 and t.isalpha() and t not in ("a", "i") else ""


@functools.cache
def _common_words() -> frozenset[str]:
    """Whole-word tokens of the router's Llama-2 vocabulary (~12.7k words): a word list by frequency,
    read from the tokenizer file that wordllama ships. Empty if missing: the rare-term check is off."""
    try:
        from satisfice.predict.embed import TOKENIZER, _package_dir

        with open(_package_dir() / TOKENIZER, "rb") as f:
            vocab = json.load(f)["model"]["vocab"]
    except Exception:  # pragma: no cover - another wordllama layout
        return frozenset()
    return frozenset(t[1:].lower() for t in vocab if t.startswith("▁") and t[1:].isalpha())


def _is_rare(w: str) -> bool:
    common = _common_words()
    if not common or len(w) <= 3 or not w.isalpha() or w in common:
        return False
    return not any(w.endswith(sfx) and w[: -len(sfx)] + add in common for sfx, add in _INFLECTIONS)


_INFLECTIONS = (
    ("s", ""),
    ("es", ""),
    ("ies", "y"),
    ("ed", ""),
    ("ed", "e"),
    ("d", ""),
    ("ing", ""),
    ("ing", "e"),
    ("er", ""),
    ("est", ""),
    ("ly", ""),
)


def _unstemmed(rare: frozenset[str], other: frozenset[str]) -> str:
    """Rare words with no word in the other text sharing a 5-letter stem (invite ~ invitation)."""
    stems = {w[:5] for w in other if len(w) >= 5}
    return ", ".join(sorted(w for w in rare if w not in other and w[:5] not in stems))


_ELIDED = frozenset(("l", "d", "j", "qu", "n", "s", "c", "m", "t", "dell", "nell", "all", "un"))


def _expand(low: str) -> list[str]:
    """Contractions to their negation ("don't" -> "do", "not"); possessives dropped; an elided French or
    Italian article or pronoun dropped ("l'espagne" -> "espagne"), or the word after it went unseen."""
    head, apostrophe, rest = low.partition("'")
    if apostrophe and rest and head in _ELIDED:
        return [rest]
    if low.endswith("n't"):
        stem = {"won't": "will", "can't": "can", "shan't": "shall"}.get(low, low[:-3])
        return [stem, "not"]
    if low == "cannot":
        return ["can", "not"]
    if low.endswith(("'s", "'re", "'ve", "'ll", "'d", "'m")):
        return [low.split("'")[0]]
    return [low]


# Runs of letters and digits joined by '-', '_' or '.'. _TOKEN splits "gpt-4o" into "gpt", "4", "o", and
# none of those checks caught the "o": a lower-case word without a digit is no entity, and one letter is
# too short for a rare term, so "gpt-4o" was served for "gpt-4". Taken whole, an identifier must be
# spelt the same in the other text.
_SPAN = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")
_PART = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")  # a span's pieces between '-' and '_'
# Most prompts have no digit, '_' or dotted name ("config.yaml"), hence no span to look at (cheap tests).
_DIGIT = re.compile(r"[\d_]")
_DOTTED = re.compile(r"[a-z]\.[a-z]", re.IGNORECASE)
_PIECE = re.compile(r"[a-z]+|\d+")
# Letters after a number that make it a quantity, not a name: 10km, 10-minute, 3pm, 2nd, 1990s, 2x.
_QUANTITY = frozenset(lex.UNITS) | lex.PERIODS | {"st", "nd", "rd", "th", "s", "am", "pm", "x"}


def _ids(text: str, named: set[str], words: list[str]) -> set[str]:
    """The identifiers of a text (see _SPAN), each in one spelling (_spelling), and edition words with
    the name they touch, a span with a digit or a name (`named`, or a rare word): "iphone 15 pro" gives
    "15pro", "macbook pro m3" "prom3", "macbook air" "macbookair"."""
    editions = not lex.VARIANTS.isdisjoint(words)
    if not editions and not _DIGIT.search(text) and not ("." in text and _DOTTED.search(text)):
        return set()
    spans = [(m.start(), m.end(), m.group().lower()) for m in _SPAN.finditer(text)]
    ids: set[str] = set()
    for i, (_, _, raw) in enumerate(spans):
        digit = any(c.isdigit() for c in raw)
        if _is_identifier(raw) if digit else _is_file_like(raw):
            ids.add(_spelling(raw))
        if not editions or raw in lex.VARIANTS:
            continue
        left = i > 0 and spans[i - 1][2] in lex.VARIANTS
        right = i + 1 < len(spans) and spans[i + 1][2] in lex.VARIANTS
        if not (left or right) or not (digit or raw in named or _is_rare(raw)):
            continue
        lo = hi = i
        while lo > 0 and spans[lo - 1][2] in lex.VARIANTS and _joined(text, spans[lo - 1][1], spans[lo][0]):
            lo -= 1
        while (
            hi + 1 < len(spans)
            and spans[hi + 1][2] in lex.VARIANTS
            and _joined(text, spans[hi][1], spans[hi + 1][0])
        ):
            hi += 1
        if (lo, hi) != (i, i):
            ids.add("".join(_spelling(raw) for _, _, raw in spans[lo : hi + 1]))
    return ids


@functools.lru_cache(maxsize=4096)
def _spellings(text: str) -> frozenset[str]:
    """Every spelling a text offers to match another text's identifiers: each span, and one to three
    parts in a row, joined by spaces, '-' or '_' ("gpt 4o" = "gpt-4o"; "claude 3 opus" offers "3 opus",
    the edition of "claude-3-opus"; "three bedroom" = "3-bedroom"). Built only when an identifier is not
    among the other text's plain words."""
    out = {_spelling(m.group().lower()) for m in _SPAN.finditer(text)}  # whole spans, however long
    parts = [(m.start(), m.end(), _spelling(m.group().lower())) for m in _PART.finditer(text)]
    for i, (_, end, key) in enumerate(parts):
        out.add(key)
        if i + 1 < len(parts) and _joined(text, end, parts[i + 1][0], hyphen=True):
            out.add(key + parts[i + 1][2])
            if i + 2 < len(parts) and _joined(text, parts[i + 1][1], parts[i + 2][0], hyphen=True):
                out.add(key + parts[i + 1][2] + parts[i + 2][2])
    return frozenset(out)


def _joined(text: str, end: int, start: int, *, hyphen: bool = False) -> bool:
    """Two spans (or parts) in a row: only spaces between them, or one '-' or '_' (parts), not a comma,
    a full stop or a line break."""
    gap = text[end:start]
    return (gap.strip(" \t") == "" and gap != "") or (hyphen and gap in ("-", "_"))


def _is_identifier(raw: str) -> bool:
    """A span with a digit names something (gpt-4o, h100, utf-8, v2.1, 4o, covid-19) unless it is a
    number with a unit or an ordinal: "10-minute", "10km", "3pm", "2nd" are quantities, which the number
    and unit checks compare in any spelling."""
    if raw[0].isalpha():
        return True
    return any(p[0].isalpha() and p not in _QUANTITY for p in _PIECE.findall(raw))


def _is_file_like(raw: str) -> bool:
    """Letters joined by '.' or '_': a file, module or variable name (config.yaml, os.path, my_var).
    Not an abbreviation ("e.g", "u.s": one-letter pieces) nor a hyphenated word ("well-known")."""
    return ("." in raw or "_" in raw) and all(len(p) > 1 for p in re.split(r"[-_.]", raw))


def _spelling(raw: str) -> str:
    """One spelling of a span: '-' and '_' dropped ("utf-8" = "utf8"), '.' kept ("v2.1" is not "v21"),
    number words as digits and a plural -s dropped, so "three-bedroom" = "3 bedrooms"."""
    out: list[str] = []
    for part in re.split(r"[-_]", raw):
        pieces = part.split(".")
        out.append(".".join(lex.NUMBER_WORDS.get(p, _singular(p)) for p in pieces))
    return "".join(out)


def _singular(w: str) -> str:
    """ "bedrooms" -> "bedroom"; "class", "opus", "basis" kept."""
    plural = len(w) > 3 and w.isalpha() and w.endswith("s") and not w.endswith(("ss", "us", "is"))
    return w[:-1] if plural else w


_LETTER_JOINED = re.compile(r"[-./&][A-Za-z]")  # e-mail, x-ray, i.e., u.s., a/b, q&a
_JOINED_LETTER = re.compile(r"[A-Za-z][-./&]$")


def _is_label(text: str, start: int, end: int) -> bool:
    """A letter that is no word labels something: "vitamin d", "series x", "plan b" (not "a" or "i").
    One letter was no entity, so "vitamin d" was served for "vitamin b". Not a unit ("5 m", which the
    unit check compares), a letter after a digit ("4o", "2x": _ids judges those), nor one joined to
    another letter by '-', '.', '/' or '&': a word or an abbreviation ("e-mail", "i.e.", "q&a")."""
    letter = text[start]
    if letter in "aAiI" or letter.lower() in lex.UNITS or text[start - 1 : start].isdigit():
        return False
    if _LETTER_JOINED.match(text, end):
        return False
    return _JOINED_LETTER.search(text, max(0, start - 2), start) is None


def _is_entity(tok: str, sentence_start: bool) -> bool:
    if tok in ("I", "I'm", "I've", "I'd", "I'll") or len(tok) < 2:
        return False
    if _MIXED.match(tok) and (not tok[1:].islower() or any(c.isdigit() for c in tok)):
        return True  # inner capitals or digits: product names, identifiers, acronyms, python3, mp4
    return tok[0].isupper() and not sentence_start


def _lemma(w: str) -> str:
    """The lexicon's form of a word: tries the word, then without -s/-es/-ed/-d/-ing (or -ing plus e)."""
    if w in lex.SYNONYMS:
        return lex.SYNONYMS[w]
    if w in lex.KNOWN:
        return w
    for suffix, add in (("s", ""), ("es", ""), ("ed", ""), ("d", ""), ("ing", ""), ("ing", "e")):
        if w.endswith(suffix) and (base := w[: -len(suffix)] + add) in lex.KNOWN:
            return lex.SYNONYMS.get(base, base)
    return w


def _negations(words: list[str]) -> Counter[str]:
    return Counter(lex.NEGATIONS[w] for w in words if w in lex.NEGATIONS)


def _prefixed(wa: frozenset[str], wb: frozenset[str]) -> str:
    """ "unlock" in one text where the other has "lock" (and not "unlock"): a negating prefix. Matching
    against the other text's words avoids a list of words that merely start with un-/dis-/in-."""
    for x, y in ((wa, wb), (wb, wa)):
        for w in x - y:
            for p in lex.NEG_PREFIXES:
                if w.startswith(p) and len(w) > len(p) + 2 and w[len(p) :] in y:
                    return f"{w} vs {w[len(p) :]}"
    return ""


def _numbers(words: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for w in words:
        if w[0].isdigit():
            out[_number_form(w)] += 1
        elif w in lex.NUMBER_WORDS:
            out[lex.NUMBER_WORDS[w]] += 1
    return out


def _number_form(w: str) -> str:
    w = re.sub(r"(st|nd|rd|th)$", "", w)
    if re.fullmatch(r"\d{1,3}(,\d{3})+", w):
        w = w.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", w):  # as written: "python 3.10" is not "python 3.1"
        whole, frac = w.split(".")
        return f"{whole.lstrip('0') or '0'}.{frac}"
    return w.lstrip("0") or "0"


def _dates(words: list[str]) -> Counter[str]:
    out: Counter[str] = Counter(w for w in words if w in lex.DATE_WORDS)
    for prev, w in itertools.pairwise(words):
        if prev in lex.DATE_MODIFIERS and (_lemma(w) in lex.PERIODS or w in lex.DATE_WORDS):
            out[f"{prev} {_lemma(w)}"] += 1
        if prev.isdigit() and w in ("am", "pm"):
            out[w] += 1
    return out


def _opposites(la: dict[str, int], lb: dict[str, int]) -> str:
    """Opposite words ("on" vs "off"): a pair whose counts differ, with each side used somewhere."""
    used = (la.keys() | lb.keys()) & _OPPOSITE_WORDS
    if len(used) < 2:  # the usual case: no pair can be in play
        return ""
    for x, y in lex.OPPOSITES:
        if x in used and y in used and (la.get(x, 0), la.get(y, 0)) != (lb.get(x, 0), lb.get(y, 0)):
            return f"{x} vs {y}"
    return ""


_OPPOSITE_WORDS = frozenset(w for pair in lex.OPPOSITES for w in pair)


def _unmatched(entities: Iterable[str], other: _Features) -> str:
    lost = [e for e in entities if e not in other.words]
    if lost:  # "gpt4o" may be written "gpt-4o" or "gpt 4o" there
        spelt = _spellings(other.text)
        lost = [e for e in lost if e not in spelt]
    return ", ".join(sorted(lost))


def _show(items: Iterable[str]) -> str:
    return ", ".join(sorted(items)) or "-"
