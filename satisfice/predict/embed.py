"""The wordllama static sentence embedding, loaded offline from the files inside the PyPI package.

wordllama 0.4 ships its token-embedding table (`weights/l2_supercat_256.safetensors`) and tokenizer
(`tokenizers/l2_supercat_tokenizer_config.json`) inside the wheel. We read those two files directly:
importing the `wordllama` package itself costs ~30 MB of modules and, without `cache_dir`, its
`WordLlama.load()` tries a model hub. If the files move in a later version we fall back to
`WordLlama.load(cache_dir=<package dir>, disable_download=True)`. No network is ever used.

A sentence vector is the mean of the token vectors (what `WordLlama.embed` computes), L2-normalised.
The table is kept as float32 (32 MB): gathering float16 rows and summing them is ~7x slower.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 256
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
PIECE_CACHE = 100_000  # cached word pieces (~15 MB at most); cleared when full
F32 = npt.NDArray[np.float32]
Ids = npt.NDArray[np.uint16]  # token ids (the vocabulary has 32,000 tokens)


def _package_dir() -> Path:
    spec = importlib.util.find_spec("wordllama")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the predictor needs the PyPI package wordllama (pip install wordllama==0.4.0.post1)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class Embedder:
    """Token-mean sentence embeddings; thread-safe; never touches the network."""

    def __init__(self) -> None:
        root = _package_dir()
        self._table: F32 | None = None
        self._weights: Path | None = None
        if (root / WEIGHTS).is_file() and (root / TOKENIZER).is_file():
            from tokenizers import Tokenizer

            self._weights = root / WEIGHTS  # read on first use (`table`)
            self._tok: Any = Tokenizer.from_file(str(root / TOKENIZER))
        else:  # pragma: no cover - layout of another wordllama version
            from wordllama import WordLlama

            wl = WordLlama.load(cache_dir=root, disable_download=True)
            self._table = _float32(wl.embedding)
            self._tok = wl.tokenizer
        self._tok.no_padding()
        self._tok.no_truncation()
        self.vocab = int(self._tok.get_vocab_size())
        self._lock = threading.Lock()
        self._table_lock = threading.Lock()
        self._pieces: dict[str, bytes] = {}  # word piece -> its token ids (uint16 bytes)
        self._prenorm = self._python_normaliser()
        self._direct = self._prenorm and self._tok.pre_tokenizer is None  # see _encode_pieces

    def _read_table(self) -> F32:
        from safetensors.numpy import load_file

        assert self._weights is not None
        return _float32(load_file(str(self._weights))["embedding.weight"])

    @property
    def table(self) -> F32:
        """The (vocab, DIM) token vectors, read on first use and kept (32 MB as float32: gathering
        float16 rows and summing them is ~7x slower). The default router never pools, so a gateway
        that does not embed (no semantic cache, no embedding-weighted predictor) never holds them."""
        if self._table is None:
            with self._table_lock:
                if self._table is None:
                    self._table = self._read_table()
        return self._table

    def project_table(self, m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(vocab, k): every token vector's leading m.shape[0] dimensions times `m` (DIM', k), in float64.
        Uses the kept table if it is loaded; otherwise reads it for this once and lets it go."""
        table = self._table if self._table is not None else self._read_table()
        out: npt.NDArray[np.float64] = table[:, : m.shape[0]].astype(np.float64) @ m
        return out

    def _python_normaliser(self) -> bool:
        """The Llama-2 normaliser is Prepend("▁") + Replace(" ", "▁"). Doing it in Python is ~25 % faster
        (the tokenizer's NormalizedString tracks alignments we do not need); used only when a probe
        gives the same ids both ways."""
        probe = "Hello  world, ça va? 12 + 3 = 15\n  def f(x):\n\treturn x ▁ 日本"
        want = self._tok.encode(probe, add_special_tokens=False).ids
        norm = self._tok.normalizer
        try:
            self._tok.normalizer = None
            if self._tok.encode("▁" + probe.replace(" ", "▁"), add_special_tokens=False).ids == want:
                return True
        except Exception:  # any surprise: keep the tokenizer's own normaliser
            pass
        self._tok.normalizer = norm
        return False

    def _encode(self, texts: list[str]) -> list[npt.NDArray[np.int64]]:
        if self._prenorm:
            texts = ["▁" + t.replace(" ", "▁") if t else "" for t in texts]
        with self._lock:  # a tokenizers.Tokenizer is not documented as thread-safe
            encs = self._tok.encode_batch_fast(texts, add_special_tokens=False)  # no offsets: faster
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def token_ids(self, text: str) -> Ids:
        """Token ids of `text`, tokenised piece by piece: the text is split at spaces and each piece is
        tokenised as SentencePiece sees it after a space ("▁piece"). This equals tokenising the whole
        text except where a run of spaces would have made a "▁▁" token. Pieces are cached (bounded),
        so the result never depends on the cache: the cache only saves time (a warm gateway tokenises
        a short prompt in a few microseconds)."""
        pieces = text.split(" ")
        cache = self._pieces
        found = [cache.get(p) for p in pieces]
        if None in found:
            missing = list(dict.fromkeys(p for p, b in zip(pieces, found, strict=True) if b is None))
            fresh = dict(zip(missing, self._encode_pieces(missing), strict=True))
            with self._lock:
                if len(cache) + len(fresh) > PIECE_CACHE:
                    cache.clear()
                cache.update((p, b) for p, b in fresh.items() if len(p) <= 48)
            found = [fresh[p] if b is None else b for p, b in zip(pieces, found, strict=True)]
        return np.frombuffer(b"".join(found), dtype=np.uint16)  # type: ignore[arg-type]

    def token_ids_batch(self, texts: list[str]) -> list[Ids]:
        return [self.token_ids(t) for t in texts]

    def _encode_pieces(self, pieces: list[str]) -> list[bytes]:
        """Token ids of each piece, as if tokenised alone (uint16 bytes). With the Python normaliser
        and no pre-tokeniser (Llama-2's layout), the BPE model tokenises "▁piece" directly: that is
        what encoding the piece does, without building an Encoding per call (~3 µs a piece instead of
        ~4.5; the same ids on all 114,812 distinct pieces of the shared prompts)."""
        if self._direct:
            model = self._tok.model
            with self._lock:  # a tokenizers.Tokenizer is not documented as thread-safe
                return [
                    array("H", [t.id for t in model.tokenize("▁" + p)]).tobytes() if p else b""
                    for p in pieces
                ]
        return [c.astype(np.uint16).tobytes() for c in self._encode(pieces)]

    def pool(self, ids: Ids) -> F32:
        """L2-normalised mean of the token vectors (zeros for no tokens)."""
        if ids.size == 0:
            return np.zeros(DIM, dtype=np.float32)
        v: F32 = np.take(self.table, ids, axis=0, mode="clip").sum(axis=0)
        return _unit(v)

    def pool_with_tail(self, ids: Ids, tail: int) -> tuple[F32, F32]:
        """`pool(ids)` and `pool(ids[-tail:])` from one gather (the same numbers, faster)."""
        if ids.size == 0:
            z = np.zeros(DIM, dtype=np.float32)
            return z, z
        rows = np.take(self.table, ids, axis=0, mode="clip")
        full = _unit(rows.sum(axis=0))
        return full, (full if ids.size <= tail else _unit(rows[-tail:].sum(axis=0)))


def _float32(table: Any) -> F32:
    return np.ascontiguousarray(np.asarray(table)[:, :DIM], dtype=np.float32)


def _unit(v: F32) -> F32:
    n = float(np.sqrt(v @ v))
    return v / n if n > 0 else v


_LOCK = threading.Lock()


@functools.cache
def _cached() -> Embedder:
    return Embedder()


def get_embedder() -> Embedder:
    """The process-wide embedder (loaded once, ~0.1 s, ~45 MB)."""
    with _LOCK:
        return _cached()
