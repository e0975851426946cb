"""Real browser: the Lesson tab's Show me buttons, links that open a tab with its inputs (and say what they
ignored), Copy link round trips, and projector mode. Writes assets/screenshots/lesson.png and projector.png."""
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS, open_tab
from llm_demo import lesson, links

TAB_LABELS = {"lesson": "Lesson", "tokenizer": "Tokenizer", "chat": "Chat", "compare": "Compare",
              "scaling": "Scaling laws"}
SECTIONS = lesson.sections()
SELECTED = '[role="tab"][aria-selected="true"]'
SLOW = 60_000  # ms: a redraw can take this long when the 2 cores are shared with other jobs


def goto(page, app_url, query: str):
    page.goto(app_url + query)
    page.get_by_role("tab", name="Lesson").wait_for()


def copied_link(page, tab: str) -> links.Link:
    """Press the tab's Copy link and parse the URL it shows."""
    box = page.locator(f"#{tab}-link textarea, #{tab}-link input").first
    old = box.input_value()
    page.locator(f"#{tab}-copy-link").click()
    try:
        expect(box).not_to_have_value(old, timeout=5_000 if old else 30_000)
    except AssertionError:
        assert old, "Copy link wrote nothing"   # the same link as last time: the box keeps it
    url = box.input_value()
    assert url.startswith("http") and "?tab=" + tab in url, f"Copy link wrote {url!r}"
    return links.parse(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def visible_textarea_holding(page, text: str):
    """The visible tab's textarea whose value is `text` (waits for it)."""
    js = "t => [...document.querySelectorAll('[role=tabpanel] textarea')].some(e => e.offsetParent && e.value === t)"
    page.wait_for_function(js, arg=text)
    areas = page.locator('[role="tabpanel"]:visible textarea')
    return areas.nth(areas.evaluate_all("(els, t) => els.findIndex(e => e.value === t)", text))


def viewport_shot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_lesson_is_the_first_tab_and_shows_every_section(page):
    expect(page.locator(SELECTED)).to_have_text("Lesson")
    for s in SECTIONS:
        expect(page.locator(f"#lesson-{s.key}")).to_contain_text(s.title)
    expect(page.locator("#lesson-architecture")).to_contain_text("163,037,184")
    expect(page.locator("#lesson-tokenization")).to_contain_text("10 GPT-2 tokens")
    viewport_shot(page, "lesson")


def test_every_show_me_lands_on_its_tab_with_the_inputs_filled(page):
    for s in SECTIONS:
        open_tab(page, "Lesson")
        page.locator(f"#lesson-show-{s.key}").click()
        expect(page.locator(SELECTED)).to_have_text(TAB_LABELS[s.tab], timeout=SLOW)
        if s.values.get("tied") is False:     # Show me scrolls to the calculator (before Copy link scrolls up)
            expect(page.locator("#scaling-params")).to_be_in_viewport()
        got = copied_link(page, s.tab)
        for k, v in s.values.items():
            assert got.values.get(k) == v, f"Show me {s.key}: {k} is {got.values.get(k)!r}, expected {v!r}"
        if s.tab == "tokenizer":
            expect(page.locator("#tok-text textarea")).to_have_value(s.values["text"])
        elif s.tab in ("chat", "compare"):
            expect(visible_textarea_holding(page, s.values["prompt"])).to_be_visible()
        elif "budget" in s.values:
            expect(page.locator("#scaling-isoflop .legend")).to_contain_text(f"C = {s.values['budget']}")
        elif s.values.get("tied") is False:
            expect(page.locator("#scaling-params")).to_contain_text("163,037,184", timeout=SLOW)


def test_the_documented_tokenizer_link_shows_two_tokens(page, app_url):
    goto(page, app_url, "?tab=tokenizer&tokenizer=cl100k_base&text=Hello%20world")
    expect(page.locator(SELECTED)).to_have_text("Tokenizer", timeout=SLOW)
    expect(page.locator('#tok-view [data-count="tokenizer"]')).to_have_text("GPT-4 / GPT-3.5-turbo (cl100k_base)")
    expect(page.locator('#tok-view [data-count="tokens"] b')).to_have_text("2")
    expect(page.locator("#link-note")).to_be_hidden()


@pytest.mark.parametrize("start", [
    "?tab=tokenizer&tokenizer=o200k_base&text=Caf%C3%A9%20%26%20cr%C3%A8me%3F%20%231",
    "?tab=chat&model=tinygpt-sft&temperature=0.35&top_k=7&top_p=0.8&seed=42&prompt=Hello%20%26%20bye",
    "?tab=compare&family=tinygpt&prompt=Where%20does%20Hugo%20live%3F",
    "?tab=scaling&gpus=64&hours=100&gpu=A100&tied=0&k=12",
])
def test_copy_link_round_trip(page, app_url, start):
    """Open a state, change a text input by typing, Copy link, open that link: the same inputs and view."""
    tab = dict(parse_qsl(start[1:]))["tab"]
    goto(page, app_url, start)
    expect(page.locator(SELECTED)).to_have_text(TAB_LABELS[tab], timeout=SLOW)
    first = copied_link(page, tab)
    assert not first.ignored and set(dict(parse_qsl(start[1:]))) - {"tab"} <= set(first.values), first
    box = {"tokenizer": "#tok-text textarea", "scaling": "#scaling-budget textarea"}.get(tab)
    if tab in ("chat", "compare"):
        visible_textarea_holding(page, first.values["prompt"]).fill("A typed prompt, with = & ?")
    elif tab == "tokenizer":
        page.locator(box).fill("Typed: naïve café, 100% #tokens")
    second = copied_link(page, tab)
    assert second.values != first.values or tab == "scaling", "typing did not change the copied link"
    url = page.locator(f"#{tab}-link textarea, #{tab}-link input").first.input_value()
    summary = page.locator("#scaling-summary").inner_text() if tab == "scaling" else None
    page.goto(url)
    page.get_by_role("tab", name="Lesson").wait_for()
    expect(page.locator(SELECTED)).to_have_text(TAB_LABELS[tab], timeout=SLOW)
    third = copied_link(page, tab)
    assert third.values == second.values, f"the link {url} reopened as {third.values}, not {second.values}"
    if tab == "tokenizer":
        expect(page.locator(box)).to_have_value(second.values["text"])
    if tab == "scaling":
        expect(page.locator("#scaling-summary")).to_have_text(summary)


def test_bad_values_give_one_sentence_and_the_defaults(page, app_url):
    goto(page, app_url, "?tab=chat&temperature=9&model=nope&top_k=20&colour=red")
    expect(page.locator(SELECTED)).to_have_text("Chat", timeout=SLOW)
    note = page.locator("#link-note")
    for part in ("temperature='9'", "model='nope'", "colour='red'"):
        expect(note).to_contain_text(part)
    got = copied_link(page, "chat")
    assert got.values["temperature"] == 0.7 and got.values["model"] == "smollm2-135m-instruct", got.values
    assert got.values["top_k"] == 20, "a good value next to bad ones is kept"

    goto(page, app_url, "?tab=nowhere&text=hi")
    expect(page.locator(SELECTED)).to_have_text("Lesson")
    expect(page.locator("#link-note")).to_contain_text("tab='nowhere'")


def test_projector_mode_from_the_toggle_and_the_link(page, app_url):
    open_tab(page, "Scaling laws")
    plot = page.locator("#scaling-isoflop .js-plotly-plot")
    plot.wait_for()
    font = "g => g._fullLayout.font.size"
    assert plot.evaluate(font) < 16, "plots start in normal size"
    page.locator("#projector-toggle input").check()
    expect(page.locator("html")).to_have_class("projector")
    page.wait_for_function("() => document.querySelector('#scaling-isoflop .js-plotly-plot')._fullLayout.font.size >= 20")
    budget = page.locator("#scaling-budget textarea")
    budget.fill("3.5e23")
    budget.press("Enter")          # a plot Gradio redraws keeps the projector layout
    expect(page.locator("#scaling-isoflop .legend")).to_contain_text("3.5e23", timeout=SLOW)
    page.wait_for_function("() => document.querySelector('#scaling-isoflop .js-plotly-plot')._fullLayout.font.size >= 20")
    page.locator("#projector-toggle input").uncheck()
    page.wait_for_function("() => document.querySelector('#scaling-isoflop .js-plotly-plot')._fullLayout.font.size < 16")
    expect(page.locator("html")).not_to_have_class("projector")

    goto(page, app_url, "?tab=tokenizer&tokenizer=gpt2&text=The%20quick%20brown%20fox%20jumps%20over%20the%20lazy%20dog."
                        "&projector=1")
    expect(page.locator("#projector-toggle input")).to_be_checked()
    expect(page.locator("html")).to_have_class("projector")
    size = page.locator("#tok-view .tokview").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 24, f"tokens are {size}px in projector mode"
    page.locator("#tok-text").evaluate("e => e.scrollIntoView({block: 'start'})")   # the text and its tokens
    viewport_shot(page, "projector")
