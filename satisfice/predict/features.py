"""Prompt features: wordllama embeddings of the last user turn (whole and tail) plus cheap text statistics.

x = [embedding of the last user message (256) | embedding of its last TAIL_TOKENS tokens (256)
     | text statistics (len(STAT_NAMES))]

The tail embedding sees the actual question of a few-shot prompt (whose body is mostly the shared
examples). Everything here is deterministic, numpy only, and works on any OpenAI-style messages.
Long texts are cut (head + tail) before tokenising so that the cost stays bounded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from math import log1p
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from satisfice.predict.embed import DIM, Ids, get_embedder

TAIL_TOKENS = 64
HEAD_CHARS, TAIL_CHARS = 700, 400  # what is tokenised of a long message
STATS_HEAD, STATS_TAIL = 2000, 1000  # what the text statistics scan
STAT_NAMES = (
    "log_chars",
    "log_context_chars",
    "log_user_turns",
    "has_system",
    "log_lines",
    "code",
    "code_fence",
    "digits_frac",
    "log_numbers",
    "math_symbols",
    "latex",
    "choices",
    "log_answer_markers",
    "log_questions",
    "non_ascii_frac",
    "cjk_frac",
    "word_len",
    "upper_frac",
    "log_tools",
    "json_format",
    "has_image",
    "imperative_write",
    "tail_share",
    "math_words",
    "code_words",
    "reason_words",
)
N_STATS = len(STAT_NAMES)
N_FEATURES = 2 * DIM + N_STATS
F32 = npt.NDArray[np.float32]
V = TypeVar("V")

_NUM = re.compile(r"\d+(?:[.,]\d+)?")
_CHOICE = re.compile(r"(?m)^\s*\(?[A-Ea-e][).:]\s")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_CODE_MARKS = (
    "def ",
    "return ",
    "import ",
    "function",
    "#include",
    "=>",
    "();",
    "){",
    ") {",
    "print(",
    "class ",
    "const ",
    "var ",
    "SELECT ",
    "</",
    "public ",
    "self.",
    "console.",
)
_MATH_MARKS = ("+", "=", "*", "^", "/", "%", "<", ">", "√", "∫", "π")
_WRITE = (
    "write ",
    "Write ",
    "compose",
    "story",
    "essay",
    "poem",
    "email",
    "letter",
    "explain",
    "Explain",
    "describe",
    "Describe",
)

# The no-ML heuristic's cues (`baselines.difficulty`), as cheap substring counts on the lower-cased text:
# they carry over between benchmark families better than anything else measured (docs/router.md).
_MATH_WORDS = ("prove", "solve", "equation", "integral", "probability", "\\frac")
_CODE_WORDS = ("python", "javascript", "code", "sql")
_REASON_WORDS = ("step by step", "explain why", "derive", "analyze", "analyse", "compare", "design")


def content_text(content: Any) -> tuple[str, bool]:
    """Text of a message's content (string or list of parts) and whether it holds an image."""
    if isinstance(content, str):
        return content, False
    if isinstance(content, list):
        parts, image = [], False
        for p in content:
            if isinstance(p, Mapping):
                kind = p.get("type")
                if kind in ("image_url", "image", "input_image"):
                    image = True
                elif isinstance(p.get("text"), str):
                    parts.append(p["text"])
            elif isinstance(p, str):
                parts.append(p)
        return "\n".join(parts), image
    return "", False


def split_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str, int, int, bool, bool]:
    """(last user text, other chars, user turns, has system, has image)."""
    last, other, turns, system, image = "", 0, 0, False, False
    texts: list[tuple[str, str]] = []
    for m in messages:
        text, img = content_text(m.get("content"))
        image = image or img
        role = str(m.get("role", ""))
        texts.append((role, text))
        turns += role == "user"
        system = system or (role in ("system", "developer") and bool(text))
    idx = next((i for i in range(len(texts) - 1, -1, -1) if texts[i][0] == "user"), None)
    if idx is None and texts:
        idx = len(texts) - 1
    for i, (_, text) in enumerate(texts):
        if i == idx:
            last = text
        else:
            other += len(text)
    return last, other, turns, system, image


def _cut(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    return text if len(text) <= head + tail else text[:head] + "\n" + text[-tail:]


def _classes() -> bytes:
    """A bytes.translate table mapping each ASCII byte to its class: U upper, l lower, d digit,
    s space, m a maths mark, . anything else. One translate and a count per class is C-speed
    character-class counting in one pass over the text."""
    table = bytearray(b"." * 256)
    for cls, chars in (
        (b"U", bytes(range(65, 91))),
        (b"l", bytes(range(97, 123))),
        (b"d", b"0123456789"),
        (b"s", b" \n\t"),
        (b"m", b"".join(k.encode() for k in _MATH_MARKS if k.isascii())),
    ):
        for b in chars:
            table[b] = cls[0]
    return bytes(table)


_CLASSES = _classes()
_MATH_OTHER = tuple(k for k in _MATH_MARKS if not k.isascii())


# Weights of `token_count_terms` in the estimated token count of a text, fitted by least squares on
# the cut last user turns of the shared datasets (`python scripts/fit_token_estimate.py`, which prints
# them and the error: on the held-out half the share of the last TAIL_TOKENS tokens is within 0.006 of
# the tokenizer's at p50, 0.06 at p90). The text statistics read it so that a new prompt's
# prediction needs no tokenising (the BPE work was about 40 % of the decision on this machine).
TOKEN_WEIGHTS = (1.242, 0.384, 1.217, 1.052, 1.241, 0.168, 1.527)


def _char_counts(t: str) -> tuple[bytes, int, int, int, int, int]:
    """(ASCII character classes, non-ASCII chars, upper, lower, digits, spaces) of `t`."""
    ab = t.encode("ascii", "ignore")
    classes = ab.translate(_CLASSES)
    counts = classes.count(b"U"), classes.count(b"l"), classes.count(b"d"), classes.count(b"s")
    return (classes, len(t) - len(ab), *counts)


def token_count_terms(
    t: str, counts: tuple[bytes, int, int, int, int, int] | None = None
) -> tuple[float, ...]:
    """The terms of `TOKEN_WEIGHTS`: (1, space-separated pieces, digits, other ASCII characters,
    non-ASCII characters, letters, newlines). Llama-2's tokenizer makes each digit a token, most
    punctuation one, and a non-ASCII character one or more."""
    classes, non_ascii, upper, lower, digits, spaces = counts or _char_counts(t)
    other = len(classes) - upper - lower - digits - spaces
    return (1.0, t.count(" ") + 1.0, digits, other, non_ascii, upper + lower, t.count("\n"))


def estimated_tokens(text: str) -> float:
    """The number of wordllama tokens of what is tokenised of `text` (`_cut`), estimated without
    the tokenizer (`TOKEN_WEIGHTS`); at least 1."""
    return _weighted_tokens(token_count_terms(_cut(text)))


def _weighted_tokens(terms: tuple[float, ...]) -> float:
    return max(1.0, sum(map(float.__mul__, TOKEN_WEIGHTS, terms)))


def text_stats(
    text: str,
    other_chars: int,
    turns: int,
    system: bool,
    image: bool,
    n_tools: int,
    json_format: bool,
) -> F32:
    n = len(text)
    t = _cut(text, STATS_HEAD, STATS_TAIL)
    m = max(len(t), 1)
    counts = _char_counts(t)
    classes, non_ascii, upper, lower, digits, spaces = counts
    letters = upper + lower or 1
    words = t.count(" ") + t.count("\n") + 1
    code = sum(map(t.count, _CODE_MARKS)) + t.count(";\n") + t.count("{\n")  # map: no generator frames
    # The ASCII maths marks are a class; the others are counted only when the text has non-ASCII.
    math = classes.count(b"m") + (sum(map(t.count, _MATH_OTHER)) if non_ascii else 0)
    latex = t.count("\\frac") + t.count("\\") // 2 + t.count("$")
    cjk = len(_CJK.findall(t)) if non_ascii else 0
    low = t.lower()
    # The share of the tokenised text in its last TAIL_TOKENS tokens (what the tail embedding sees);
    # a text short enough to be tokenised whole is the scanned one, whose counts are at hand.
    short = n <= HEAD_CHARS + TAIL_CHARS
    tokens = _weighted_tokens(token_count_terms(t, counts)) if short else estimated_tokens(text)
    out = np.array(
        [
            log1p(n) / 8,
            log1p(other_chars) / 8,
            log1p(turns),
            float(system),
            log1p(t.count("\n")) / 4,
            log1p(code) / 3,
            float("```" in t),
            min(digits / m * 5, 1.0),
            log1p(len(_NUM.findall(t)) if digits or non_ascii else 0) / 3,  # no digit, no number
            log1p(math) / 3,
            log1p(latex) / 3,
            min(len(_CHOICE.findall(t)) / 4, 2.0),
            log1p(t.count("Answer:") + t.count("answer:")) / 2,
            log1p(t.count("?")) / 2,
            non_ascii / m,
            min(cjk / m * 3, 1.0),
            min((m - spaces) / words / 10, 2.0),
            upper / letters,
            log1p(n_tools),
            float(json_format),
            float(image),
            float(any(map(t.__contains__, _WRITE))),
            min(TAIL_TOKENS / tokens, 1.0),
            log1p(sum(map(low.count, _MATH_WORDS))) / 2,
            log1p(sum(map(low.count, _CODE_WORDS))) / 2,
            log1p(sum(map(low.count, _REASON_WORDS))) / 2,
        ],
        dtype=np.float32,
    )
    return out


KEY_CHARS = 2048  # a longer text is kept in a cache key as its length and digest


def _compact(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key as stored: a long text (the first element) as its length and a 128-bit digest, so
    that the cache's size does not grow with the prompts' (4,096 prompts of 10 MB each, kept
    whole, would be 40 GB)."""
    text = key[0]
    if isinstance(text, str) and len(text) > KEY_CHARS:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return (len(text), digest, *key[1:])
    return key


class FeatureCache(Generic[V]):
    """Prompt features by (text, context) key, bounded LRU: makes repeated texts free within a process."""

    def __init__(self, size: int = 25_000) -> None:
        self._d: OrderedDict[tuple[Any, ...], V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._d)

    def get(self, key: tuple[Any, ...]) -> V | None:
        return self._get(_compact(key))

    def put(self, key: tuple[Any, ...], value: V) -> None:
        self._put(_compact(key), value)

    def get_or_make(self, key: tuple[Any, ...], make: Callable[[], V]) -> V:
        """The cached value, else `make()` cached: the key is digested once (a long text's digest
        is a few microseconds of the request path)."""
        key = _compact(key)
        value = self._get(key)
        if value is None:
            value = make()
            self._put(key, value)
        return value

    def _get(self, key: tuple[Any, ...]) -> V | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def _put(self, key: tuple[Any, ...], value: V) -> None:
        with self._lock:
            self._d[key] = value
            if len(self._d) > self._size:
                self._d.popitem(last=False)


# Batch paths (training, cross-validation, predict_many): 25k rows, ~55 MB at most.
CACHE: FeatureCache[F32] = FeatureCache()
# The request path (`request_features`): ~13 MB at most.
REQUEST_CACHE: FeatureCache[RequestFeatures] = FeatureCache(4096)


def _assemble(
    text: str,
    other: int,
    turns: int,
    system: bool,
    image: bool,
    n_tools: int,
    json_format: bool,
    *,
    ids: Ids | None,
) -> F32:
    """The feature vector; without `ids` the embedding block stays zero (nothing is tokenised)."""
    out = np.zeros(N_FEATURES, dtype=np.float32)
    if ids is not None:
        out[:DIM], out[DIM : 2 * DIM] = get_embedder().pool_with_tail(ids, TAIL_TOKENS)
    out[2 * DIM :] = text_stats(text, other, turns, system, image, n_tools, json_format)
    return out


def _key(messages: Sequence[Mapping[str, Any]], n_tools: int, json_format: bool) -> tuple[Any, ...]:
    last, other, turns, system, image = split_messages(messages)
    return (last, other, turns, system, image, n_tools, json_format)


def token_ids(messages: Sequence[Mapping[str, Any]]) -> Ids:
    """The wordllama token ids the embedding pools: the last user message's (the last message's when
    none is a user's), of a long text its head and tail."""
    return get_embedder().token_ids(_cut(split_messages(messages)[0]))


class RequestFeatures:
    """The request path's features of one prompt: the vector `x` (read-only: shared through the
    cache) and, tokenised on first use, the token ids (for the learner's prompt cluster)."""

    __slots__ = ("_ids", "_text", "memo", "x")

    def __init__(self, x: F32, text: str, ids: Ids | None = None) -> None:
        self.x = x
        self._text = text
        self._ids = ids
        # What consumers derive from the prompt alone (the predictor's terms, the learner's cluster),
        # kept with the cached features so that a repeated prompt does not derive it again.
        self.memo: dict[Any, Any] = {}

    @property
    def ids(self) -> Ids:
        """The token ids the embedding pools (read-only: a view of the joined piece bytes). Two
        threads may both tokenise on first use; they get the same ids."""
        ids = self._ids
        if ids is None:
            ids = self._ids = get_embedder().token_ids(_cut(self._text))
        return ids


def request_features(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    response_format: Mapping[str, Any] | None = None,
    embed: bool = True,
) -> RequestFeatures:
    """The request path's features, cached by text. `embed=False` leaves the embedding block zero,
    for a predictor that gives it no weight: the prompt is then not tokenised until something reads
    its ids (the tokenizer's BPE work is the largest part of a new prompt's decision)."""
    n_tools = len(tools) if tools else 0
    kind = str(response_format.get("type", "")) if response_format else ""
    json_format = kind in ("json_object", "json_schema")
    key = (*_key(messages, n_tools, json_format), embed)

    def make() -> RequestFeatures:
        text = key[0]
        ids = get_embedder().token_ids(_cut(text)) if embed else None
        x = _assemble(*key[:-1], ids=ids)
        x.setflags(write=False)
        return RequestFeatures(x, text, ids)

    return REQUEST_CACHE.get_or_make(key, make)


def prompt_features(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    response_format: Mapping[str, Any] | None = None,
) -> F32:
    """The whole feature vector (N_FEATURES,) of one request, uncached."""
    n_tools = len(tools) if tools else 0
    kind = str(response_format.get("type", "")) if response_format else ""
    key = _key(messages, n_tools, kind in ("json_object", "json_schema"))
    return _assemble(*key, ids=get_embedder().token_ids(_cut(key[0])))


def features_many(prompts: Sequence[Sequence[Mapping[str, Any]]]) -> F32:
    """(n, N_FEATURES) for many message lists, tokenising in batches and caching by text."""
    keys = [_key(p, 0, False) for p in prompts]
    out = np.empty((len(keys), N_FEATURES), dtype=np.float32)
    todo: dict[tuple[Any, ...], list[int]] = {}
    for i, k in enumerate(keys):
        hit = CACHE.get(k)
        if hit is None:
            todo.setdefault(k, []).append(i)
        else:
            out[i] = hit
    pending = list(todo)
    emb = get_embedder()
    for start in range(0, len(pending), 256):
        chunk = pending[start : start + 256]
        for k, ids in zip(chunk, emb.token_ids_batch([_cut(k[0]) for k in chunk]), strict=True):
            v = _assemble(*k, ids=ids)
            CACHE.put(k, v)
            out[todo[k]] = v
    return out
