"""Numbers about tokens: presets, the seed's claims measured, context budgets (cited), chat-template overhead.

Pure functions over llm_demo.tokenization; the Tokenizer tab and the tests call them.
"""
from dataclasses import dataclass

from llm_demo.models import DEFAULT_CHAT_MODEL
from llm_demo.tokenization import TextStats, get_tokenizer, text_stats
from llm_demo import count

# The seed's examples (its fibonacci body is indented with 4 spaces here, as Python code is), then ours.
SEED_PRESETS = {
    "Hello, world!": "Hello, world!",
    "Machine learning": "Machine learning is fascinating",
    "Rare word": "supercalifragilisticexpialidocious",
    "Fibonacci one-liner": "def fibonacci(n):\n    return n if n < 2 else fibonacci(n-1) + fibonacci(n-2)",
    "Quick brown fox": "The quick brown fox jumps over the lazy dog.",
}
# The fox sentence in other languages (our translations), so tokens per word compare like with like.
TRANSLATIONS = {
    "Spanish": "El rápido zorro marrón salta sobre el perro perezoso.",
    "German": "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Russian": "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "Hindi": "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "Arabic (right to left)": "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "Chinese (no spaces between words)": "敏捷的棕色狐狸跳过了懒狗。",
}
EXTRA_PRESETS = {
    "Emoji": "I love pizza 🍕🍕! Family: 👨‍👩‍👧‍👦 Flags: 🇯🇵 🇫🇷 Thumbs up: 👍🏽 Heart: ❤️",
    "Numbers": "In 2024, 1,234,567 people paid $3.14159 each: 12345678 + 87654321 = 99999999.",
    "Whitespace-heavy code": ("class Stack:\n    def __init__(self):\n        self.items = []\n\n"
                              "    def push(self, item):\n        if item is not None:\n"
                              "            self.items.append(item)\n\n    def pop(self):\n"
                              "        return self.items.pop()\n"),
    "Special-token text": "The end of one document <|endoftext|> and the start of the next.",
    "English paragraph": ("Large language models read text as tokens, not letters. A tokenizer splits each "
                          "sentence into pieces that it has seen often, so common words stay whole while rare "
                          "words break into several parts. Counting tokens tells you how much a prompt costs "
                          "and how much of the context window it fills."),
}
PRESETS = {**SEED_PRESETS, **TRANSLATIONS, **EXTRA_PRESETS}

SEED_WORDS_PER_TOKEN = 0.75  # the seed: "1 token is approximately 0.75 English words"


@dataclass(frozen=True)
class ContextWindow:
    model: str
    tokens: int
    source: str
    note: str = ""


CONTEXT_WINDOWS = [
    ContextWindow("GPT-2", 1_024,
                  "Radford et al. 2019, 'Language Models are Unsupervised Multitask Learners', sec. 2.3: "
                  "context size increased from 512 to 1024 tokens"),
    ContextWindow("GPT-4 (launch, March 2023)", 8_192,
                  "OpenAI, 'GPT-4' (openai.com/research/gpt-4, 14 Mar 2023): gpt-4 has a context length of "
                  "8,192 tokens; gpt-4-32k 32,768",
                  "the seed's 'GPT-4: 128K' is GPT-4 Turbo; GPT-4 itself launched with 8K (and a 32K variant)"),
    ContextWindow("GPT-4 Turbo", 128_000,
                  "OpenAI, 'New models and developer products announced at DevDay' (6 Nov 2023): "
                  "GPT-4 Turbo has a 128K context window"),
    ContextWindow("Claude 2.1 (Nov 2023)", 200_000,
                  "Anthropic, 'Introducing Claude 2.1' (anthropic.com/news/claude-2-1, 21 Nov 2023): "
                  "a 200K token context window",
                  "as of that announcement: Claude 2.1 has 200K, the earlier Claude 2 and Claude Instant 100K; "
                  "Claude's tokenizer is not public: its count here uses the chosen tokenizer as a stand-in"),
]


def context_budget(stats: TextStats) -> list[dict]:
    """For each context window: the share of it this text fills, and how many words would fit at this text's
    measured words per token next to the seed's 0.75 rule of thumb."""
    wpt = stats.words_per_token
    return [{"model": w.model, "window (tokens)": f"{w.tokens:,}",
             "window used": f"{100 * stats.tokens / w.tokens:.3g}%",  # 3 significant digits: 0.00313%
             "words that fit, measured": f"{round(w.tokens * wpt):,}" if stats.tokens else "–",
             "words that fit, seed's 0.75": f"{round(w.tokens * SEED_WORDS_PER_TOKEN):,}",
             "source": w.source + (f" (note: {w.note})" if w.note else "")} for w in CONTEXT_WINDOWS]


def budget_summary(stats: TextStats, label: str) -> str:
    """One sentence: this text's measured words per token against the seed's 0.75."""
    if not stats.tokens or not stats.words:
        return "Type some text to measure its words per token."
    wpt = stats.words_per_token
    side = "more" if wpt > SEED_WORDS_PER_TOKEN else "fewer"
    return (f"This text: {count(stats.words, 'word')} in {count(stats.tokens, label + ' token')} = **{wpt:.2f} words per token** "
            f"({side} than the seed's 0.75, by {abs(wpt / SEED_WORDS_PER_TOKEN - 1):.0%}). So a 128K window holds "
            f"about {round(128_000 * wpt):,} words of text like this, not the seed's 96K.")


def measure_presets(names: list[str], presets: dict[str, str] = PRESETS) -> list[dict]:
    """Tokens, words and ratios for every preset under every named tokenizer (one row each)."""
    rows = []
    for preset, text in presets.items():
        for name in names:
            tk = get_tokenizer(name)
            s = text_stats(text, len(tk.encode(text)))
            rows.append({"preset": preset, "tokenizer": tk.label, "tokens": s.tokens, "words": s.words,
                         "tokens/word": round(s.tokens_per_word, 2), "words/token": round(s.words_per_token, 2),
                         "chars/token": round(s.chars_per_token, 2)})
    return rows


def seed_claims(name: str = "gpt2") -> list[str]:
    """The seed's tokenization claims, each checked against this tokenizer's measured numbers."""
    tk = get_tokenizer(name)

    def tpw(text: str) -> float:
        return text_stats(text, len(tk.encode(text))).tokens_per_word

    prose = tpw(EXTRA_PRESETS["English paragraph"])
    fox = tpw(SEED_PRESETS["Quick brown fox"])
    code = tpw(EXTRA_PRESETS["Whitespace-heavy code"])
    spaced = {k: tpw(v) for k, v in TRANSLATIONS.items() if "Chinese" not in k}
    wpt = 1 / prose
    hello = [t.text for t in tk.tokens("Hello, world!")]
    verdict = ("within 10% of it for this plain English" if abs(wpt / SEED_WORDS_PER_TOKEN - 1) < 0.1 else
               f"{'more' if wpt > SEED_WORDS_PER_TOKEN else 'fewer'} words per token than the rule, by "
               f"{abs(wpt / SEED_WORDS_PER_TOKEN - 1):.0%}, for this plain English")
    return [
        f"**'1 token ≈ 0.75 words'**: on our English paragraph {tk.label} gives {wpt:.2f} words per token "
        f"({prose:.2f} tokens per word), on the fox sentence {1 / fox:.2f}: {verdict}. The rule is a rough "
        "average for English; rarer words, code and other languages (below) get far fewer words per token.",
        f"**'\"Hello\" = 1 token, \" world\" = 1 token'**: {tk.label} splits 'Hello, world!' into "
        f"{' | '.join(repr(h) for h in hello)}.",
        f"**'Code is less token-efficient'**: the indented Python class takes {code:.2f} tokens per "
        f"whitespace-separated word vs {prose:.2f} for English prose "
        + (f"({code / prose:.1f}×): holds for {tk.label}." if code > prose else f": does not hold for {tk.label}."),
        "**'Non-English text uses more tokens per word'**: the same sentence takes "
        + ", ".join(f"{k.split(' (')[0]} {v:.2f}" for k, v in spaced.items())
        + f" tokens per word vs English {fox:.2f}: "
        + ("holds for every language shown." if all(v > fox for v in spaced.values())
           else "holds for some languages, not all."),
    ]


@dataclass(frozen=True)
class ChatOverhead:
    plain_tokens: int     # the messages' own text, each tokenized alone
    templated_tokens: int  # the exact string the model sees, chat template included
    templated_text: str

    @property
    def overhead(self) -> int:
        return self.templated_tokens - self.plain_tokens


DEFAULT_CONVERSATION = ("user: What is a token?\n"
                        "assistant: A small piece of text, often a word or part of a word.\n"
                        "user: Give me an example.")


def parse_conversation(text: str) -> list[dict]:
    """'role: content' lines (roles: system, user, assistant) -> chat messages."""
    messages = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        role, sep, content = line.partition(":")
        role = role.strip().lower()
        if not sep or role not in ("system", "user", "assistant"):
            raise ValueError(f"Line {n} should start with 'user:', 'assistant:' or 'system:' (it is {line[:40]!r}).")
        messages.append({"role": role, "content": content.strip()})
    if not messages:
        raise ValueError("Type a short conversation, one 'user: ...' or 'assistant: ...' line per message.")
    return messages


def chat_overhead(messages: list[dict], name: str = DEFAULT_CHAT_MODEL) -> ChatOverhead:
    """Token count of a conversation without and with the instruct model's chat template."""
    tk = get_tokenizer(name)
    if getattr(getattr(tk, "tok", None), "chat_template", None) is None:
        raise ValueError(f"{tk.label} has no chat template; choose an instruct model's tokenizer such as SmolLM2.")
    plain = sum(len(tk.encode(m["content"])) for m in messages)
    text = tk.tok.apply_chat_template(messages, tokenize=False)
    return ChatOverhead(plain, len(tk.encode(text, allow_special=True)), text)
