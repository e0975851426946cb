"""HTML for the Tokenizer tab: tokens as coloured spans, visible whitespace, counts, and the comparison chart.

Pure functions of tokens (no Gradio); a token id keeps its colour across texts and tokenizers.
"""
import html
import re

from llm_demo.tokenization import Analysis, TextStats, Token
from llm_demo import count

# Drawing more spans than this makes the browser sluggish; the counts always cover every token.
DISPLAY_TOKEN_CAP = 5_000
GOLDEN_ANGLE = 137.508  # degrees: consecutive ids get hues far apart, and an id always gets the same hue

# Whitespace and control characters made visible. C0 controls become Unicode's "control pictures" (U+2400+).
_VISIBLE = {c: chr(0x2400 + c) for c in range(32)} | {0x7F: "\u2421"}
# Space, tab, newline, CR and no-break space first become private-use placeholders, so that after HTML
# escaping they (and not a "·" the user typed) turn into greyed marks.
_WS_MARKS = {" ": "·", "\t": "→", "\n": "↵", "\r": "␍", "\xa0": "⍽"}
_VISIBLE |= {ord(c): chr(0xE000 + i) for i, c in enumerate(_WS_MARKS)}
_WS_HTML = {0xE000 + i: f'<span class="ws">{m}</span>' for i, m in enumerate(_WS_MARKS.values())}
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\ufe00-\ufe0f\ufeff]")  # zero-width, joiners, bidi marks, variation selectors
_RAW_BYTES = re.compile("[\udc80-\udcff]+")  # what errors="surrogateescape" makes of partial UTF-8 bytes

CSS = """<style>
.tokview{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px;line-height:1.5;padding:6px 2px}
.tokview .tok{display:inline-block;color:#111;border-radius:3px;padding:1px 2px;margin:2px 1px;
  unicode-bidi:isolate;white-space:pre-wrap;word-break:break-all;max-width:100%}
.tokview .tok.special{outline:2px solid #111;font-weight:bold}
.tokview .ws{color:#777}
.tokview .hex{font-size:11px;color:#822;border:1px dashed #a66;border-radius:2px;padding:0 1px}
.tokview .cf{font-size:10px;color:#555;border:1px dotted #777;padding:0 1px}
.tokview sub{font-size:10px;color:#333;margin-left:1px}
.tokview .more{display:block;margin-top:8px;color:#555;font-family:sans-serif;font-style:italic}
.tokcounts{display:flex;flex-wrap:wrap;gap:18px;font-family:sans-serif;font-size:15px;margin:4px 0}
.tokcounts b{font-size:18px}
</style>"""


def token_colour(token_id: int) -> str:
    return f"hsl({(token_id * GOLDEN_ANGLE) % 360:.0f},75%,84%)"


_SHORT = {"\u200d": "ZWJ", "\u200c": "ZWNJ", "\u200b": "ZWSP", "\ufeff": "BOM", "\u200e": "LRM", "\u200f": "RLM"}


def visible(raw: bytes) -> str:
    """A token's bytes as HTML: real text where they are whole UTF-8 characters, <0xE5> where they are
    only part of one; spaces, tabs, newlines, control and zero-width characters drawn visibly."""
    text = raw.decode("utf-8", errors="surrogateescape").translate(_VISIBLE)
    out = html.escape(text, quote=False)
    if not out.isascii():
        out = _RAW_BYTES.sub(lambda m: '<span class="hex">' + "".join(
            f"&lt;0x{ord(c) - 0xDC00:02X}&gt;" for c in m.group()) + "</span>", out)
        out = _INVISIBLE.sub(lambda m: f'<span class="cf">{_SHORT.get(m.group(), f"U+{ord(m.group()):04X}")}</span>', out)
    return out.translate(_WS_HTML)


def render_tokens(tokens: list[Token], show_ids: bool = False, cap: int = DISPLAY_TOKEN_CAP) -> str:
    """Coloured spans for the first `cap` tokens, then a line saying how many are not drawn."""
    parts = ['<div class="tokview" dir="auto">']
    for t in tokens[:cap]:
        label = visible(t.bytes) if t.bytes else "∅"
        ident = f"<sub>{t.id}</sub>" if show_ids else ""
        cls = "tok special" if t.special else "tok"
        parts.append(f'<span class="{cls}" style="background:{token_colour(t.id)}" title="id {t.id}, '
                     f'{count(len(t.bytes), "byte")}">{label}{ident}</span>')
        if b"\n" in t.bytes:
            parts.append("<br>")
    if len(tokens) > cap:
        parts.append(f'<span class="more">… {len(tokens) - cap:,} more tokens are not drawn, to keep the page '
                     f'responsive (the counts above include them).</span>')
    if not tokens:
        parts.append('<span class="more">No text yet: type something or pick a preset.</span>')
    parts.append("</div>")
    return "".join(parts)


def render_counts(stats: TextStats, label: str = "", vocab_size: int = 0) -> str:
    items = [("tokens", f"{stats.tokens:,}"), ("characters", f"{stats.chars:,}"), ("words", f"{stats.words:,}"),
             ("tokens / word", f"{stats.tokens_per_word:.2f}"), ("characters / token", f"{stats.chars_per_token:.2f}")]
    # the noun follows its number: "1 word", "2 words" (the data-count key stays the plural)
    one = {"tokens": "token", "characters": "character", "words": "word"}
    cells = "".join(f'<span data-count="{k}"><b>{v}</b> {one[k] if v == "1" and k in one else k}</span>'
                    for k, v in items)
    head = f'<span data-count="tokenizer"><b>{html.escape(label)}</b></span>' if label else ""
    head += f'<span data-count="vocabulary">{vocab_size:,}-token vocabulary</span>' if vocab_size else ""
    return f'<div class="tokcounts">{head}{cells}</div>'


def render_view(a: Analysis, show_ids: bool = False, cap: int = DISPLAY_TOKEN_CAP) -> str:
    """The whole inspection view: counts, notes (what was capped, replaced or made special), then the tokens."""
    note_html = "".join(f'<p class="toknote">⚠ {html.escape(n)}</p>' for n in a.notes)
    return CSS + render_counts(a.stats, a.tokenizer, a.vocab_size) + note_html + render_tokens(a.tokens, show_ids, cap)


def render_comparison(results: list[Analysis], show_ids: bool = False, cap: int = 1_000) -> str:
    """One compact view per tokenizer, stacked, each headed by its label and token count."""
    blocks = [f'<h4 style="margin:10px 0 0">{html.escape(a.tokenizer)}: {count(a.stats.tokens, "token")}</h4>'
              + render_tokens(a.tokens, show_ids, cap) for a in results]
    return CSS + "".join(blocks)
