"""Links and Show me, wired at app level: a page query (or a lesson's Show me) selects a tab, fills its inputs and
redraws its cheap views; each tab's Copy link writes its current inputs into a URL.

Each build_*_tab() returns {link key: input component} (keys as in llm_demo/links.py FIELDS, plus inputs a link
resets to their defaults) and optionally "views": [(fn, inputs, outputs)], the cheap handlers to rerun after a
link fills the tab (a view returns {component: value}: wrap it in common.by_name, or common.one for one output).
Nothing here generates text: a link fills a prompt, it never sends it.
"""
from urllib.parse import parse_qsl

import gradio as gr

from llm_demo import links
from llm_demo.ui.scaling_tab import MODES

PLAN_MODES = {key: mode for mode, key in MODES.items()}   # links.PLAN_FROM -> the planner's radio

# Runs in the browser after the server built the query: the page's own address + the query, to the clipboard
# (which browsers allow only on https or localhost: elsewhere the box still shows the link to copy by hand).
COPY_JS = """(q) => {
  if (!q || q[0] !== '?') return q;
  const url = window.location.origin + window.location.pathname + q;
  try { navigator.clipboard.writeText(url).catch(() => {}); } catch (e) {}
  return url;
}"""


# What a tab's link does not carry (docs/tabs.md, "Links for slides"): said where the link is copied, so nothing is dropped silently.
LEFT_OUT = {"chat": "the conversation, the branches and the temperature sweep",
            "scaling": "the architecture calculator's sizes, the custom TFLOP/s, the loss law and inference tokens",
            "compare": "the sampling settings, the answers and the votes",
            "inside": "the layer, head and the sections' own inputs"}


def copy_link_row(tab: str) -> tuple[gr.Button, gr.Textbox]:
    """A Copy link button and the box that shows the link (place it at the top of a tab)."""
    with gr.Row(elem_classes="copy-link-row"):
        button = gr.Button("🔗 Copy link", size="sm", scale=0, min_width=150, elem_id=f"{tab}-copy-link")
        box = gr.Textbox(show_label=False, container=False, interactive=False, scale=4, elem_id=f"{tab}-link",
                         placeholder="Copy link puts a link to this tab, with its current inputs, here and on "
                                     "the clipboard" + (f" (it leaves out {LEFT_OUT[tab]})" if tab in LEFT_OUT else ""),
                         buttons=["copy"])
    return button, box


def _inputs(comps: dict) -> dict:
    return {k: c for k, c in comps.items() if k != "views"}


def fill(tab: str, values: dict, comps: dict) -> dict:
    """{component: value} for every input of the tab: the link's value, else the input's default."""
    values = dict(values)
    if tab == "scaling" and "mode" in comps:
        values["mode"] = PLAN_MODES.get(links.plan_from(values), comps["mode"].value)
    return {c: values[k] if k in values else c.value for k, c in _inputs(comps).items()}


def read(tab: str, comps: dict, current: dict) -> dict:
    """The tab's link values from its inputs' current values (the inverse of fill)."""
    values = {k: current[c] for k, c in _inputs(comps).items() if k in links.FIELDS[tab]}
    if tab == "scaling" and "mode" in comps:
        plan = {mode: key for key, mode in PLAN_MODES.items()}.get(current[comps["mode"]])
        for key, group in links.PLAN_FROM.items():
            if key != plan:
                for k in group:
                    values.pop(k, None)
    return {k: v for k, v in values.items() if v not in (None, "")}


def _merge(old, new):
    """Two updates for one component (a value from the link, visibility from a view) -> one."""
    old = old if isinstance(old, dict) else {"value": old}
    new = new if isinstance(new, dict) else {"value": new}
    return gr.update(**{k: v for k, v in {**old, **new}.items() if k != "__type__"})


def apply(link: links.Link, targets: dict, current: dict, tabs, note, projector) -> dict:
    """The updates that open `link`: the tab, its filled inputs, its redrawn views, the note and projector mode."""
    link = links.within(link, targets)
    out = {note: gr.update(value=link.sentence(), visible=bool(link.sentence()))}
    if link.projector is not None:
        out[projector] = link.projector
    if link.tab:
        out[tabs] = gr.Tabs(selected=link.tab)
    comps = targets.get(link.tab)
    if not comps:
        return out
    filled = fill(link.tab, link.values, comps)
    out.update(filled)
    values, problems = {**current, **filled}, []
    for fn, ins, _ in comps.get("views", []):
        try:
            result = fn(*[values[c] for c in ins])      # {component: value} (common.by_name or common.one)
        except gr.Error as exc:           # e.g. a GPU fleet whose budget is past the planner's range
            problems.append(exc.message)
            continue
        out.update({c: _merge(out[c], r) if c in out else r for c, r in result.items()})
    if problems:
        out[note] = gr.update(value=" ".join(filter(None, [link.sentence(), *problems])), visible=True)
    return out


TOO_LONG_PAGE = """<!doctype html><meta charset="utf-8"><title>LLM Lab: link too long</title>
<p style="font-family:sans-serif;max-width:40em;margin:3em auto">This link is {n:,} characters long: the server
reads at most {limit:,}. Links copied in the lab stay under {cap:,} characters (their text is cut to fit, and the
Copy link button says so). <a href="{path}">Open the lab without the link's settings</a>.</p>"""


class LongLinkGuard:
    """ASGI middleware: a URL longer than the server parses (links.SERVER_MAX_URL) gets HTTP 414 and a page that
    says why, instead of Gradio's 500 (httpx.InvalidURL: URL too long). Installed by app.py at launch."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers") or []).get(b"host", b"")
            n = (len(scope.get("scheme", "http")) + 3 + len(host) + len(scope.get("root_path", "")) +
                 len(scope.get("path", "")) + 1 + len(scope.get("query_string", b"")))
            if n > links.SERVER_MAX_URL:
                body = TOO_LONG_PAGE.format(n=n, limit=links.SERVER_MAX_URL, cap=links.MAX_LINK_CHARS,
                                            path=scope.get("root_path", "") + "/").encode()
                await send({"type": "http.response.start", "status": 414,
                            "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def link_note() -> gr.Markdown:
    """Where a link's one sentence about what it ignored appears (place it above the tabs)."""
    return gr.Markdown(visible=False, elem_id="link-note")


def wire(demo: gr.Blocks, tabs: gr.Tabs, targets: dict, copies: dict, show_me: list, projector: gr.Checkbox,
         note: gr.Markdown) -> None:
    """Page query on load, the lesson's Show me buttons and every Copy link button."""
    view_inputs = {c for comps in targets.values() for _, ins, _ in comps.get("views", []) for c in ins}
    outputs = [tabs, note, projector]
    for comps in targets.values():
        outputs += [c for c in _inputs(comps).values() if c not in outputs]
        outputs += [c for _, _, outs in comps.get("views", []) for c in outs if c not in outputs]
    cheap = dict(concurrency_limit=None, show_progress="hidden", api_visibility="private")

    def open_query(current: dict | None = None, request: gr.Request = None):
        current = current or {}
        pairs = request.query_params.multi_items() if request is not None else []
        if not pairs:
            return {note: gr.skip()}
        return apply(links.parse(pairs), targets, current, tabs, note, projector)

    demo.load(open_query, view_inputs or None, outputs, **cheap)
    for button, query, anchor in show_me:   # then scroll to the demonstration (the tab's top by default)
        link = links.parse(parse_qsl(query.lstrip("?"), keep_blank_values=True))
        button.click(lambda current=None, link=link: apply(link, targets, current or {}, tabs, note, projector),
                     view_inputs or None, outputs, **cheap).then(
            None, js=f"() => document.getElementById({anchor!r})?.scrollIntoView({{block: 'start'}})", **cheap)
    for tab, (button, box) in copies.items():
        comps = targets[tab]

        def build(current: dict, tab=tab, comps=comps):
            query, cut = links.build_fitting(tab, read(tab, comps, current))
            if cut:
                gr.Warning(cut)
            return query
        button.click(build, set(_inputs(comps).values()), box, **cheap).then(None, box, box, js=COPY_JS, **cheap)
