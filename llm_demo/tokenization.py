"""Tokenizers the lab shows, offline: OpenAI's BPE encodings (tiktoken, fed the rank files shipped in
assets/tokenizers/) and Hugging Face tokenizers (our trio's, SmolLM2's; any hub id when online).

Scripting: `from llm_demo.tokenization import tokenize; [(t.id, t.bytes) for t in tokenize("Hi!", "gpt2")]`.
"""
import codecs
import json
import logging
import os
import re
import threading
from dataclasses import dataclass

from llm_demo import config, count
from llm_demo.tiktoken_offline import RANKS_DIR, load_tiktoken_offline

log = logging.getLogger("llm_demo")

# Our names -> tiktoken encoding names. "gpt2" is r50k_base: the same ranks, pattern and <|endoftext|>.
TIKTOKEN_NAMES = {"gpt2": "r50k_base", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}
ALIASES = {"r50k_base": "gpt2"}
TIKTOKEN_LABELS = {"gpt2": "GPT-2 (r50k_base)", "cl100k_base": "GPT-4 / GPT-3.5-turbo (cl100k_base)",
                   "o200k_base": "GPT-4o (o200k_base)"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name: never a local path
_SURROGATE = re.compile("[\ud800-\udfff]")


def _hex_bytes(err: UnicodeDecodeError):
    """Decode-error handler: write bytes that are not a whole UTF-8 character as <0xE5> instead of �."""
    return "".join(f"<0x{b:02X}>" for b in err.object[err.start:err.end]), err.end


codecs.register_error("llm_demo_hex", _hex_bytes)


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    bytes: bytes          # the token's raw bytes: joining a text's tokens gives text.encode("utf-8")
    special: bool = False  # a control token such as <|endoftext|>, not a piece of text

    @property
    def text(self) -> str:
        """The token as text; bytes that are only part of a UTF-8 character are written <0xE5>."""
        return self.bytes.decode("utf-8", errors="llm_demo_hex")


# ---------------------------------------------------------------- tiktoken


class TiktokenTokenizer:
    def __init__(self, name: str, enc):
        self.name, self.enc, self.label = name, enc, TIKTOKEN_LABELS.get(name, name)
        self.special_strings = sorted(enc.special_tokens_set)
        self.missing_bytes = frozenset()  # every byte has a token: any text round-trips

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        return self.enc.encode(text, allowed_special="all") if allow_special else self.enc.encode_ordinary(text)

    def tokens(self, text: str, allow_special: bool = False) -> list[Token]:
        ids = self.encode(text, allow_special)
        special = self.enc._special_token_values
        return [Token(i, b, i in special) for i, b in zip(ids, self.enc.decode_tokens_bytes(ids))]

    def decode(self, ids: list[int]) -> str:
        return self.enc.decode(ids)


# ---------------------------------------------------------------- Hugging Face tokenizers


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE writes each byte as one printable character; this maps them back to bytes."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


BYTE_LEVEL = _byte_level_alphabet()


def _has_byte_level(node) -> bool:
    """Whether a tokenizer.json component (or a Sequence of them) is ByteLevel."""
    if not isinstance(node, dict):
        return False
    return node.get("type") == "ByteLevel" or any(map(_has_byte_level, node.get("decoders") or []))


class HFTokenizer:
    def __init__(self, name: str, tok, label: str):
        if getattr(tok, "backend_tokenizer", None) is None:
            raise ValueError(f"{label} has no fast (Rust) tokenizer, which the lab needs to map tokens to bytes.")
        self.name, self.tok, self.label = name, tok, label
        self.added = {i: t.content for i, t in tok.added_tokens_decoder.items()}
        self.special_ids = set(tok.all_special_ids)
        self.special_strings = sorted(tok.all_special_tokens)
        vocab = tok.get_vocab()
        plain = (t for t, i in vocab.items() if i not in self.added)
        # Byte-level BPE (GPT-2 style: a ByteLevel decoder, a vocabulary written in the byte alphabet) maps back
        # to exact bytes; other tokenizers (WordPiece, SentencePiece) fall back to character offsets.
        decoder = json.loads(tok.backend_tokenizer.to_str()).get("decoder")
        self.byte_level = _has_byte_level(decoder) and all(c in BYTE_LEVEL for t in plain for c in t)
        # Bytes without a token of their own are dropped silently by a byte-level BPE without an unknown token.
        self.missing_bytes = frozenset(b for c, b in BYTE_LEVEL.items() if c not in vocab) if self.byte_level \
            else frozenset()

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        return self.tok(text, add_special_tokens=False, split_special_tokens=not allow_special)["input_ids"]

    def tokens(self, text: str, allow_special: bool = False) -> list[Token]:
        if not self.byte_level:
            return self._tokens_from_offsets(text, allow_special)
        ids = self.encode(text, allow_special)
        out = []
        for i, piece in zip(ids, self.tok.convert_ids_to_tokens(ids)):
            if i in self.added:
                out.append(Token(i, self.added[i].encode("utf-8"), i in self.special_ids))
            else:
                out.append(Token(i, bytes(BYTE_LEVEL[c] for c in piece)))
        return out

    def _tokens_from_offsets(self, text: str, allow_special: bool) -> list[Token]:
        """Non-byte-level tokenizers (WordPiece, SentencePiece) may normalise text: take each token's bytes
        from its character span; characters no token covers go with the next token (the last keeps the rest)."""
        enc = self.tok(text, add_special_tokens=False, split_special_tokens=not allow_special,
                       return_offsets_mapping=True)
        out, pos = [], 0
        for i, (_, end) in zip(enc["input_ids"], enc["offset_mapping"]):
            end = max(end, pos)
            out.append(Token(i, text[pos:end].encode("utf-8"), i in self.special_ids))
            pos = end
        if out and pos < len(text):
            last = out[-1]
            out[-1] = Token(last.id, last.bytes + text[pos:].encode("utf-8"), last.special)
        return out

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class TokenizerOption:
    name: str
    label: str
    available: bool
    reason: str = ""


def tokenizer_options() -> list[TokenizerOption]:
    """Every tokenizer the tab offers offline, with why it is unavailable when it is."""
    out = []
    for name, label in TIKTOKEN_LABELS.items():
        file = RANKS_DIR / f"{TIKTOKEN_NAMES[name]}.tiktoken.gz"
        out.append(TokenizerOption(name, label, file.exists(), "" if file.exists() else f"{file.name} is missing"))
    try:
        from llm_demo import models
        out += [TokenizerOption(*c) for c in models.tokenizer_choices()]
    except Exception as exc:  # noqa: BLE001 - the OpenAI encodings still work without the model registry
        out.append(TokenizerOption("tinygpt", "TinyGPT (our trio's BPE)", False, f"model registry failed: {exc}"))
    return out


_cache: dict[str, object] = {}
_cache_lock = threading.Lock()
_name_locks: dict[str, threading.Lock] = {}


def get_tokenizer(name: str):
    """A tokenizer by name (see tokenizer_options(), or a hub id "owner/name" when online); cached."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Choose a tokenizer: the name is empty.")
    name = ALIASES.get(name.strip(), name.strip())
    if len(name) > 200:
        raise ValueError(f"A {len(name):,}-character text is not a tokenizer name: choose one from the list "
                         "(Hugging Face ids are at most 96 characters).")
    with _cache_lock:
        if name in _cache:
            return _cache[name]
        lock = _name_locks.setdefault(name, threading.Lock())
    with lock:  # two sessions asking for one tokenizer load it once
        with _cache_lock:
            if name in _cache:
                return _cache[name]
        try:
            tokenizer = _load(name)
        except Exception:
            with _cache_lock:            # a refused name leaves nothing behind (random names must not pile up)
                _name_locks.pop(name, None)
            raise
        with _cache_lock:
            _cache[name] = tokenizer
        return tokenizer


def _load(name: str):
    if name in TIKTOKEN_NAMES:
        return TiktokenTokenizer(name, load_tiktoken_offline(TIKTOKEN_NAMES[name]))
    from llm_demo import models
    known = {c[0]: c[1] for c in models.tokenizer_choices()}
    if name in known:
        return HFTokenizer(name, models.load_tokenizer(name), known[name])  # ValueError says why if not built
    if not HUB_ID.match(name):
        raise ValueError(f"Unknown tokenizer {name!r}. Choose one of {', '.join([*TIKTOKEN_LABELS, *known])}, "
                         "or type a Hugging Face id such as openai-community/gpt2 (needs internet).")
    if not config.ALLOW_HUB_TOKENIZERS:
        log.info("typed tokenizer id refused: LLM_DEMO_ALLOW_HUB_TOKENIZERS=1 allows them")
        raise ValueError(f"Typed Hugging Face tokenizer ids are switched off on this deployment, so {name!r} was "
                         "not loaded: pick one of the listed tokenizers.")
    if ".." in name.split("/") or os.path.exists(name):    # from_pretrained would read a local folder instead
        raise ValueError(f"{name!r} is a folder on this machine, not a Hugging Face id: local paths are never read.")
    return HFTokenizer(name, _load_hub_tokenizer(name), f"{name} (hub)")


def _load_hub_tokenizer(repo_id: str):
    """Tokenizer files only (no weights, no remote code). Offline, models.hub_reachable() refuses at once when
    HF_HUB_OFFLINE is set, else after one probe of at most config.HUB_TIMEOUT_S seconds (cached for 2 minutes)."""
    from llm_demo import models
    ok, reason = models.hub_reachable()
    if not ok:
        raise ValueError(f"Tokenizer {repo_id!r} is {reason}. GPT-2, GPT-4 and GPT-4o ship with the lab.")
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(repo_id, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - a wrong id, a gated repo, a model without a tokenizer...
        raise ValueError(f"Could not load a tokenizer from {repo_id!r}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc


# ---------------------------------------------------------------- text in, tokens and counts out


def prepare_text(text: str | None, max_chars: int = config.MAX_TEXT_CHARS) -> tuple[str, list[str]]:
    """Make any input tokenizable and say what was changed: cap the length, replace lone surrogates."""
    text, notes = text or "", []
    if len(text) > max_chars:
        notes.append(f"Only the first {max_chars:,} of {len(text):,} characters are tokenized: paste a shorter "
                     "passage to see the rest.")
        log.info("text cut at %d characters (LLM_DEMO_MAX_TEXT_CHARS)", max_chars)
        text = text[:max_chars]
    text, n_bad = replace_surrogates(text)
    if n_bad:
        notes.append(surrogate_note(n_bad))
    return text, notes


def replace_surrogates(text: str) -> tuple[str, int]:
    """(text with every lone surrogate replaced by U+FFFD, how many were): the one place text that cannot be
    written in UTF-8 is made writable (prepare_text here, and every handler through ui/common.friendly)."""
    return _SURROGATE.subn("\ufffd", text)


def surrogate_note(n: int) -> str:
    return (f"{count(n, 'lone surrogate code point')} replaced by U+FFFD: they are half of a UTF-16 pair, not "
            "characters, and cannot be written in UTF-8.")


def tokenize(text: str, name: str = "gpt2", allow_special: bool = False) -> list[Token]:
    """Tokens of `text` (each with .id, .bytes, .text, .special); b"".join(t.bytes) == text.encode("utf-8")
    whenever the tokenizer has a token for every byte of the text (see its .missing_bytes).

    Special-token strings such as "<|endoftext|>" are plain text unless allow_special=True.
    """
    if not isinstance(text, str):
        raise ValueError(f"The text must be a string, not {type(text).__name__}.")
    if _SURROGATE.search(text):
        raise ValueError("The text has lone surrogates (half of a UTF-16 pair): it cannot be written in UTF-8. "
                         "Use prepare_text() to replace them with U+FFFD.")
    return get_tokenizer(name).tokens(text, allow_special) if text else []


def decode(ids: list[int], name: str = "gpt2") -> str:
    return get_tokenizer(name).decode(list(ids))


@dataclass(frozen=True)
class TextStats:
    tokens: int
    chars: int  # Unicode code points, as Python's len() counts them
    words: int  # whitespace-separated, as the seed counts them (str.split)

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words if self.words else 0.0

    @property
    def words_per_token(self) -> float:
        return self.words / self.tokens if self.tokens else 0.0

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens if self.tokens else 0.0


def text_stats(text: str, n_tokens: int) -> TextStats:
    return TextStats(n_tokens, len(text), len(text.split()))


@dataclass
class Analysis:
    """One text through one tokenizer: what the Tokenizer tab and the benchmark display."""
    tokenizer: str        # label
    text: str             # after prepare_text
    tokens: list[Token]
    stats: TextStats
    notes: list[str]      # what was capped, replaced or treated specially, in sentences
    vocab_size: int = 0


def analyse(text: str | None, name: str = "gpt2", allow_special: bool = False) -> Analysis:
    """Prepare any input (capped, surrogates replaced), tokenize it, count, and say what happened."""
    tk = get_tokenizer(name)
    text, notes = prepare_text(text)
    tokens = tk.tokens(text, allow_special) if text else []
    lost = [c for c in set(text) if tk.missing_bytes.intersection(c.encode("utf-8"))] if tk.missing_bytes else []
    if lost:
        shown = ", ".join(f"U+{ord(c):04X}" for c in sorted(lost)[:5]) + (" …" if len(lost) > 5 else "")
        notes.append(f"{tk.label} has no token for some bytes of {shown}: it drops them silently, so the model "
                     "never sees those characters and decoding does not give them back.")
    typed = [s for s in tk.special_strings if s and s in text]
    if typed and not allow_special:
        notes.append(f"{', '.join(typed)} {'is' if len(typed) == 1 else 'are'} shown as plain text, as chat services treat what a user types (so "
                     "nobody can type a control token); tick 'treat special-token text as special' to encode it "
                     "as one control token.")
    elif typed:
        notes.append(f"{', '.join(typed)} is encoded as a special control token (outlined)." if len(typed) == 1 else
                     f"{', '.join(typed)} are encoded as special control tokens (outlined).")
    return Analysis(tk.label, text, tokens, text_stats(text, len(tokens)), notes, tk.vocab_size)


def compare(text: str | None, names: list[str], allow_special: bool = False) -> tuple[list[Analysis], list[str]]:
    """The same text through several tokenizers; an unavailable one becomes a note, not a failure."""
    if not names:
        raise ValueError("Tick at least one tokenizer to compare.")
    results, notes = [], []
    for name in names:
        try:
            results.append(analyse(text, name, allow_special))
        except ValueError as exc:
            notes.append(f"{name}: {exc}")
    return results, notes
