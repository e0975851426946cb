"""Links to any state of the lab: a page query such as `?tab=tokenizer&tokenizer=cl100k_base&text=Hello` becomes
per-tab input values, checked like typed input, plus one sentence naming what was ignored; and back again.

Query values are only ever text for a textbox or a choice out of a fixed list: never a path, a hub id or code.
Scripting: `parse([("tab", "chat"), ("temperature", "0")]).values`, `build("chat", {"temperature": 0})`.
"""
import math
from dataclasses import dataclass, field
from urllib.parse import urlencode, quote

from llm_demo import config, models, scaling
from llm_demo.tokenization import tokenizer_options

# The tabs, in page order: id (links, gr.Tab ids) -> label (the tab's title, the lesson's "Show me in …").
TAB_LABELS = {"lesson": "Lesson", "tokenizer": "Tokenizer", "chat": "Chat", "compare": "Compare",
              "scaling": "Scaling laws", "inside": "Inside the model"}
TABS = tuple(TAB_LABELS)
MAX_PAIRS = 40          # a query with more key=value pairs than this is read up to here (and the sentence says so)
SHOWN_CHARS = 40        # how much of an ignored value the sentence repeats


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= SHOWN_CHARS else raw[:SHOWN_CHARS] + "…")


# ---------------------------------------------------------------- one checker per kind of value
# Each takes the raw query text and returns the value for the input, or raises ValueError with the reason.

def text(raw: str) -> str:
    """Text for a textbox, capped like typed text in the Tokenizer tab (config.MAX_TEXT_CHARS)."""
    if len(raw) > config.MAX_TEXT_CHARS:
        raise ValueError(f"longer than {config.MAX_TEXT_CHARS:,} characters")
    return raw


def _bound(x) -> str:
    """A range end as a person writes it: 9,223,372,036,854,775,807, not 9.22337e+18."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def number(lo: float, hi: float, whole: bool = False):
    """A number from lo to hi (the input's own range), a whole one if `whole`."""
    def check(raw: str):
        try:
            x = float(raw.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(x) or not lo <= x <= hi:
            raise ValueError(f"must be from {_bound(lo)} to {_bound(hi)}")
        if whole:
            if x != int(x):
                raise ValueError("must be a whole number")
            return int(x)
        return x
    return check


def one_of(options, what: str):
    """One of a fixed list of names (a callable, so the list is read when a link is opened)."""
    def check(raw: str) -> str:
        names = options()
        if raw.strip() not in names:
            shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
            raise ValueError(f"not a known {what}; known: {shown}")
        return raw.strip()
    return check


def flag(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1 or 0")


def budget(raw: str) -> str:
    scaling.check_budget(raw)          # the planner's own check: '1e21', '3.5e23' and '2.5e21' pass
    return raw.strip()


def model_size(raw: str) -> str:
    n = scaling.parse_number(raw, "The model size N")
    if n > scaling.MAX_PARAMS:
        raise ValueError(f"must be at most {scaling.sci(scaling.MAX_PARAMS)}")
    return raw.strip()


def _tokenizers() -> list[str]:
    return [o.name for o in tokenizer_options() if o.available]


def _chat_models() -> list[str]:
    return [s.name for s in models.REGISTRY.values() if s.chat]


def _all_models() -> list[str]:
    return list(models.REGISTRY)


def _gpus() -> list[str]:
    return list(scaling.GPU_PEAK_TFLOPS)


# ---------------------------------------------------------------- the documented keys of each tab (docs/tabs.md, "Links for slides")
# Ranges are the inputs' own (the sliders in chat_tab.py and scaling_tab.py; tests/test_links.py checks they agree).
FIELDS = {
    "lesson": {},
    "tokenizer": {"tokenizer": one_of(_tokenizers, "tokenizer"), "text": text},
    "chat": {"model": one_of(_chat_models, "chat model"), "temperature": number(0, 2),
             "top_k": number(0, 200, whole=True), "top_p": number(0.01, 1), "seed": number(0, 2**63 - 1, whole=True),
             "prompt": text, "system": text, "max_new": number(1, config.MAX_NEW_TOKENS_CAP, whole=True),
             "rep": number(0.5, 2)},
    "compare": {"family": one_of(models.families, "model family"), "prompt": text},
    "scaling": {"budget": budget, "gpus": number(1, 1e6, whole=True), "hours": number(0.01, 1e7),
                "gpu": one_of(_gpus, "GPU"), "n": model_size, "tied": flag, "k": number(1, 40, whole=True),
                "mfu": number(scaling.MIN_MFU, 1), "price": number(0, 1e6)},
    "inside": {"model": one_of(_all_models, "model"), "text": text},
}
# The planner plans from one thing: a budget, a GPU fleet or a model size. The first one a link gives wins.
PLAN_FROM = {"budget": ("budget",), "gpus": ("gpus", "hours", "gpu"), "n": ("n",)}
GLOBAL_KEYS = ("tab", "projector")


@dataclass
class Link:
    tab: str | None = None                       # None: the link names no tab (stay on the first one)
    values: dict = field(default_factory=dict)   # query key -> checked value, for this tab's inputs
    ignored: list[str] = field(default_factory=list)  # one short phrase per ignored part
    projector: bool | None = None                # None: the link does not say

    def sentence(self) -> str:
        """One sentence naming what was ignored ('' when nothing was)."""
        if not self.ignored:
            return ""
        where = f"the {self.tab} tab keeps its defaults for those" if self.tab else "the page opens as usual"
        return f"Ignored from the link ({where}): {'; '.join(self.ignored)}."


def within(link: Link, tabs) -> Link:
    """The link as a deployment with these tabs opens it: a documented tab it does not have (yet) is ignored, with
    the keys that came with it (said in the link's sentence), and the page opens as usual."""
    if link.tab in (None, "lesson", *tabs):
        return link
    return Link(None, {}, [*link.ignored, f"tab={link.tab!r} (not in this version of the lab) and the keys that came "
                           "with it"], link.projector)


def parse(pairs) -> Link:
    """(key, value) pairs of a page query, in order -> Link. Never raises on any input."""
    pairs = [(str(k), str(v)) for k, v in list(pairs)[:MAX_PAIRS + 1]]
    link, seen = Link(), set()
    if len(pairs) > MAX_PAIRS:
        link.ignored.append(f"everything after the first {MAX_PAIRS} keys")
        pairs = pairs[:MAX_PAIRS]
    query = {}
    for key, raw in pairs:
        if key.startswith("__") or key == "view":     # Gradio's own keys (?__theme=dark, ?view=api)
            continue
        if key in seen:
            link.ignored.append(f"a second {key!r} ({_shown(raw)})")
            continue
        seen.add(key)
        query[key] = raw
    if "projector" in query:
        try:
            link.projector = flag(query["projector"])
        except ValueError as exc:
            link.ignored.append(f"projector={_shown(query['projector'])} ({exc})")
    tab = query.get("tab", "").strip().lower()
    if "tab" in query and tab not in FIELDS:
        link.ignored.append(f"tab={_shown(query['tab'])} (tabs: {', '.join(TABS)}) and the keys that came with it")
        return link
    link.tab = tab or None
    fields = FIELDS.get(tab, {})
    for key, raw in query.items():
        if key in GLOBAL_KEYS:
            continue
        if key not in fields:
            why = f"not a key of the {tab} tab" if tab else "no tab= says which tab it is for"
            link.ignored.append(f"{key}={_shown(raw)} ({why})")
            continue
        try:
            link.values[key] = fields[key](raw)
        except ValueError as exc:
            link.ignored.append(f"{key}={_shown(raw)} ({str(exc).rstrip('.')})")
    if tab == "scaling":
        _one_plan(link)
    return link


def _one_plan(link: Link) -> None:
    given = [mode for mode, keys in PLAN_FROM.items() if any(k in link.values for k in keys)]
    for mode in given[1:]:
        for key in PLAN_FROM[mode]:
            if key in link.values:
                link.ignored.append(f"{key}={link.values.pop(key)} (the planner plans from {given[0]}, "
                                    "the first one given)")


def plan_from(values: dict) -> str | None:
    """Which planner mode a scaling link's values ask for: 'budget', 'gpus', 'n' or None."""
    return next((m for m, keys in PLAN_FROM.items() if any(k in values for k in keys)), None)


def _text_of(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.10g}" if isinstance(value, float) else str(value)


# Measured on this app: Gradio parses each request's URL with httpx, which refuses one over 65,536 characters
# (httpx/_urlparse.py MAX_URL_LENGTH): a 65,400-character query opened, 65,600 answered HTTP 500. Proxies are
# stricter (nginx's default large_client_header_buffers holds an 8 KB request line), so a copied link carries
# at most MAX_LINK_CHARS of query; text is cut to fit, and the Copy link button says so.
SERVER_MAX_URL = 65_536
MAX_LINK_CHARS = 8_000
TEXT_KEYS = ("text", "prompt", "system")    # the keys whose value is free text (cut to fit a link)


def build_fitting(tab: str, values: dict, projector: bool = False) -> tuple[str, str]:
    """(query, note): build() with free text cut so the query stays within MAX_LINK_CHARS; note is '' or one
    sentence saying what was cut (percent-encoding makes a non-ASCII character 6-12 characters long)."""
    query, values, notes = build(tab, values, projector), dict(values), []
    for key in TEXT_KEYS:
        text = values.get(key)
        if len(query) <= MAX_LINK_CHARS or not isinstance(text, str) or not text:
            continue
        lo, hi = 0, len(text)                  # the longest prefix that fits (the encoded length grows with it)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(build(tab, {**values, key: text[:mid]}, projector)) <= MAX_LINK_CHARS:
                lo = mid
            else:
                hi = mid - 1
        notes.append(f"the first {lo:,} of {len(text):,} characters of the {key}")
        values[key] = text[:lo]
        query = build(tab, values, projector)
    if not notes:
        return query, ""
    return query, (f"The link carries only {' and '.join(notes)}: a link holds at most {MAX_LINK_CHARS:,} characters "
                   "once encoded, and a non-ASCII character takes 6 to 12 of them.")


def build(tab: str, values: dict, projector: bool = False) -> str:
    """The query string ('?tab=...') that opens `tab` with these input values. Keys are this tab's documented
    keys, in their documented order; None is left out. Raises ValueError for an unknown tab or key."""
    if tab not in FIELDS:
        raise ValueError(f"Unknown tab {tab!r}: tabs are {', '.join(TABS)}.")
    unknown = set(values) - set(FIELDS[tab])
    if unknown:
        raise ValueError(f"Not keys of the {tab} tab: {', '.join(sorted(unknown))}.")
    pairs = [("tab", tab)] + [(k, _text_of(values[k])) for k in FIELDS[tab] if values.get(k) is not None]
    if projector:
        pairs.append(("projector", "1"))
    return "?" + urlencode(pairs, quote_via=quote, safe="")
