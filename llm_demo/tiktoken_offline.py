"""OpenAI's BPE encodings offline: tiktoken's own constructors (pattern, special tokens, pinned sha256), fed the
rank files shipped in assets/tokenizers/ (see PROVENANCE.md there) instead of downloading them.

`load_tiktoken_offline("cl100k_base")` equals `tiktoken.get_encoding("cl100k_base")` token for token.
"""
import base64
import gzip
import threading

from llm_demo import ASSETS

RANKS_DIR = ASSETS / "tokenizers"


def _load_shipped_ranks(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stand-in for tiktoken's `load_tiktoken_bpe(url, expected_hash)`: read our gzipped copy of the file
    `url` names, check it against tiktoken's own pinned sha256 (with tiktoken's check_hash), parse it."""
    from tiktoken.load import check_hash
    path = RANKS_DIR / (url.rsplit("/", 1)[-1] + ".gz")
    if not path.exists():
        raise ValueError(f"{path.name} is missing from {RANKS_DIR} (see PROVENANCE.md there)")
    data = gzip.decompress(path.read_bytes())
    if expected_hash is None or not check_hash(data, expected_hash):
        raise ValueError(f"{path.name} does not match tiktoken's pinned sha256 {expected_hash}: refusing to use it")
    ranks = {}
    for line in data.splitlines():  # the format: base64(token bytes) <space> rank
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


_swap_lock = threading.Lock()


def load_tiktoken_offline(encoding: str):
    """A tiktoken.Encoding built by tiktoken's own constructor (its pat_str, special tokens, pinned hash)
    with the rank file read from assets/ instead of downloaded. Equal to tiktoken.get_encoding(encoding)."""
    import tiktoken
    from tiktoken_ext import openai_public
    ctor = openai_public.ENCODING_CONSTRUCTORS[encoding]
    with _swap_lock:  # the constructor calls the module-level loader: point it at our files meanwhile
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = _load_shipped_ranks
        try:
            kwargs = ctor()
        finally:
            openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**kwargs)
