"""BPE merge trace: how a tokenizer's real merge table turns a word's bytes into its final tokens.

Works for tiktoken encodings (rank = merge priority) and byte-level BPE Hugging Face tokenizers
(rank = line in the merges list). `trace_word("tokenization", "gpt2")` -> WordTrace.
"""
import html
import json
from dataclasses import dataclass, field

from llm_demo.tokenization import BYTE_LEVEL, HFTokenizer, TiktokenTokenizer, get_tokenizer
from llm_demo.token_view import token_colour, visible
from llm_demo import count

MAX_TRACE_CHARS = 64  # a "word" longer than this makes a trace nobody reads


@dataclass(frozen=True)
class MergeStep:
    parts: tuple[bytes, ...]  # the pieces after this step
    merged: int | None        # index in `parts` of the piece this step created (None: the starting bytes)
    rank: int | None          # the merge's priority in the tokenizer's table (lower merges first)
    ids: tuple[int | None, ...] = ()  # each piece's token id (None for a lone byte outside the vocabulary)


@dataclass
class ChunkTrace:
    """One pre-token (the tokenizer first splits text into word-like chunks, then merges inside each)."""
    chunk: bytes
    steps: list[MergeStep]
    ids: list[int]


@dataclass
class WordTrace:
    tokenizer: str
    chunks: list[ChunkTrace] = field(default_factory=list)
    encoded: list[int] = field(default_factory=list)  # what the tokenizer itself returns for the word

    @property
    def ids(self) -> list[int]:
        return [i for c in self.chunks for i in c.ids]

    @property
    def matches(self) -> bool:
        return self.ids == self.encoded


def bpe_steps(chunk: list[bytes], rank_of, id_of) -> list[MergeStep]:
    """Classic BPE: repeatedly merge the adjacent pair whose merge has the lowest rank, until none applies."""
    parts = list(chunk)
    steps = [MergeStep(tuple(parts), None, None, tuple(map(id_of, parts)))]
    while len(parts) > 1:
        best, best_rank = None, None
        for i in range(len(parts) - 1):
            r = rank_of(parts[i], parts[i + 1])
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = i, r
        if best is None:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
        steps.append(MergeStep(tuple(parts), best, best_rank, tuple(map(id_of, parts))))
    return steps


def _trace_tiktoken(word: str, tk: TiktokenTokenizer) -> WordTrace:
    import regex  # tiktoken's own dependency; its pattern needs possessive quantifiers, which `re` lacks
    ranks = tk.enc._mergeable_ranks  # tiktoken: a token's rank is the priority of the merge that makes it
    trace = WordTrace(tk.label, encoded=tk.encode(word))
    for piece in regex.findall(tk.enc._pat_str, word):
        data = piece.encode("utf-8")
        steps = bpe_steps([bytes([b]) for b in data], lambda a, b: ranks.get(a + b), ranks.get)
        trace.chunks.append(ChunkTrace(data, steps, list(steps[-1].ids)))
    return trace


_HF_MERGES: dict[str, tuple[dict, dict]] = {}


def _hf_tables(tk: HFTokenizer) -> tuple[dict, dict]:
    """(merge ranks keyed by byte pairs, vocab keyed by bytes) from the tokenizer's own tokenizer.json."""
    if tk.name not in _HF_MERGES:
        model = json.loads(tk.tok.backend_tokenizer.to_str())["model"]
        if model.get("type") != "BPE" or not tk.byte_level:
            raise ValueError(f"{tk.label} is not a byte-level BPE tokenizer (its model is {model.get('type')}), "
                             "so there is no byte merge table to trace. Try GPT-2 or SmolLM2.")
        if model.get("ignore_merges"):
            raise ValueError(f"{tk.label} looks whole words up before merging (ignore_merges), so a merge trace "
                             "would not show how it really tokenizes. Try GPT-2 or SmolLM2.")
        to_bytes = lambda s: bytes(BYTE_LEVEL[c] for c in s)  # noqa: E731
        pairs = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
        merges = {(to_bytes(a), to_bytes(b)): r for r, (a, b) in enumerate(pairs)}
        vocab = {to_bytes(t): i for t, i in model["vocab"].items()}
        _HF_MERGES[tk.name] = (merges, vocab)
    return _HF_MERGES[tk.name]


def _trace_hf(word: str, tk: HFTokenizer) -> WordTrace:
    merges, vocab = _hf_tables(tk)
    backend = tk.tok.backend_tokenizer
    text = backend.normalizer.normalize_str(word) if backend.normalizer else word
    pieces = backend.pre_tokenizer.pre_tokenize_str(text) if backend.pre_tokenizer else [(text, None)]
    trace = WordTrace(tk.label, encoded=tk.encode(word))
    for piece, _ in pieces:
        data = bytes(BYTE_LEVEL[c] for c in piece)
        steps = bpe_steps([bytes([b]) for b in data], lambda a, b: merges.get((a, b)), vocab.get)
        trace.chunks.append(ChunkTrace(data, steps, list(steps[-1].ids)))
    return trace


def trace_word(word: str, name: str = "gpt2") -> WordTrace:
    """Step-by-step merges for one word (or a short phrase) with the named tokenizer's real merge table."""
    if not word or not word.strip():
        raise ValueError("Type a word to trace, for example 'tokenization'.")
    if len(word) > MAX_TRACE_CHARS:
        raise ValueError(f"The trace takes one word of at most {MAX_TRACE_CHARS} characters "
                         f"(this one has {len(word)}).")
    tk = get_tokenizer(name)
    return _trace_tiktoken(word, tk) if isinstance(tk, TiktokenTokenizer) else _trace_hf(word, tk)


def _pieces_html(step: MergeStep) -> str:
    out = []
    for k, (p, i) in enumerate(zip(step.parts, step.ids)):
        colour = "#eee" if i is None else token_colour(i)
        border = "outline:2px solid #333;" if k == step.merged else ""
        out.append(f'<span class="tok" style="background:{colour};{border}" title="id {i}">{visible(p)}</span>')
    return " ".join(out)


def render_trace(trace: WordTrace) -> str:
    """An HTML table per chunk: one row per merge, the new piece outlined, final tokens in their colours."""
    from llm_demo.token_view import CSS
    rows = [f"<p><b>{html.escape(trace.tokenizer)}</b>: {count(len(trace.ids), 'token')}, ids {trace.ids}. "
            + ("The traced merges give exactly what the tokenizer returns."
               if trace.matches else f"⚠ The tokenizer itself returns {trace.encoded}: the trace differs.") + "</p>"]
    for c in trace.chunks:
        rows.append(f'<p>Chunk {visible(c.chunk)} ({count(len(c.chunk), "byte")}, {count(len(c.steps) - 1, "merge")})</p>'
                    '<table class="tokview"><tr><th>step</th><th>rank</th><th>pieces</th></tr>')
        for n, s in enumerate(c.steps):
            rank = "start" if s.rank is None else f"{s.rank:,}"
            rows.append(f"<tr><td>{n}</td><td>{rank}</td><td>{_pieces_html(s)}</td></tr>")
        rows.append("</table>")
    return CSS + "".join(rows)
