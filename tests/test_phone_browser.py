"""Students on phones (issue 27): every tab at 390 × 844 (an iPhone 12-15 in portrait) in real Chromium with touch.

Per tab: no sideways scroll (the document is no wider than the screen, and no element of the tab pokes out of it),
the tab bar reachable (all six tab buttons on screen, no "⋯" overflow menu), and the tab's main button with its
result within reach. "Within reach" here: press the button with it at the top of the screen; its first result
starts within one screen (844 px) of the button, and the whole of it (every Compare column, the scores) within two,
one flick of the thumb. Before the fix Compare's scores table sat ~2,300 px below Run, and Chat's first knob ~1,400 px
below the conversation. Screenshots go to a temporary folder (PHONE_SHOTS=dir keeps them).
"""
import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

from conftest import broken_words, open_app
from llm_demo import compare, inside

W, H = 390, 844
SCREEN = H
SLOW = 90_000
SHOTS = Path(os.environ.get("PHONE_SHOTS") or tempfile.mkdtemp(prefix="phone-shots-"))
TABS = ["Lesson", "Tokenizer", "Chat", "Compare", "Scaling laws", "Inside the model"]

# Visible elements of the shown tab whose box pokes out of the screen on the right (content cut off, or a sideways
# scroll). Gradio's dataframe keeps a hidden sizing copy of its rows (.sizing-body), skipped; so is anything inside a
# box that scrolls sideways on purpose (a code listing, a wide table inside its own scroller).
POKING_OUT = """(width) => { const panel = [...document.querySelectorAll('[role="tabpanel"]')]
    .find(p => p.getClientRects().length);
  const scrolls = (e) => { for (let a = e.parentElement; a && a !== panel; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  return [...panel.querySelectorAll('*')]
    .filter(e => e.getClientRects().length && !e.closest('.sizing-body') && getComputedStyle(e).visibility !== 'hidden'
                 && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > width + 1 && !scrolls(e))
    .slice(0, 8).map(e => `${e.tagName}.${(e.getAttribute('class') || '').split(' ')[0]} in #${e.closest('[id]')?.id} `
                        + `"${(e.textContent || '').slice(0, 40)}" right edge ${Math.round(e.getBoundingClientRect().right)}`); }"""


@pytest.fixture
def phone(browser, app_url):
    ctx, pg = open_app(browser, app_url, viewport={"width": W, "height": H}, is_mobile=True, has_touch=True,
                       device_scale_factor=1)
    yield pg
    ctx.close()


def tap_tab(page, name: str):
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def panel(page):
    return page.locator('[role="tabpanel"]:visible')


def fits(page, where: str):
    scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"{where}: the page scrolls sideways at {W} px ({scroll} px of content in {client})"
    out = page.evaluate(POKING_OUT, W)
    assert not out, f"{where}: elements cut off at the right edge of a {W} px screen: {out}"


def top(locator) -> float:
    """The element's top in page coordinates (px from the top of the document)."""
    return locator.evaluate("e => e.getBoundingClientRect().top + window.scrollY")


def within(result, button, screens: int, what: str):
    gap = top(result) - top(button)
    assert abs(gap) <= screens * SCREEN, (f"{what} starts {gap:.0f} px from its button: more than {screens} "
                                          f"screen(s) ({screens * SCREEN} px) on a phone")


def shot(page, name: str):
    page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)


def test_every_tab_button_is_on_screen_and_opens_its_tab(phone):
    """Gradio 6.31 hides tabs that do not fit behind a "⋯" menu by default; the app's Tabs wrap instead."""
    for name in TABS:
        tab = phone.get_by_role("tab", name=name)
        expect(tab).to_be_visible()
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= W, f"tab {name!r} is off screen: {box}"
    assert not phone.locator(".overflow-menu, .overflow-dropdown").filter(visible=True).count(), \
        "an overflow menu hides some tabs"
    for name in TABS:
        tap_tab(phone, name)
        expect(panel(phone).locator("h2").first).to_be_visible()
        fits(phone, f"the {name} tab")
    shot(phone, "tabs")


def test_lesson_show_me_lands_on_its_demonstration(phone):
    tap_tab(phone, "Lesson")
    show = panel(phone).get_by_role("button", name="Show me in Tokenizer").first
    show.scroll_into_view_if_needed()
    show.click()
    expect(phone.get_by_role("tab", name="Tokenizer")).to_have_attribute("aria-selected", "true")
    text = phone.locator("#tok-text textarea")
    expect(text).to_be_in_viewport(timeout=30_000)
    fits(phone, "Tokenizer after Show me")


def test_tokenizer_text_and_its_tokens_within_a_screen(phone):
    tap_tab(phone, "Tokenizer")
    choice = phone.locator("#tok-choice input")
    name_w, box_w = choice.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert name_w <= box_w, f"the tokenizer's name is cut in its box: {name_w} px of text in {box_w} px"
    text = phone.locator("#tok-text textarea")
    text.fill("Phones are small; tokens are smaller.")
    view = phone.locator("#tok-view")
    expect(view).to_contain_text("smaller", timeout=60_000)
    within(view, text, 1, "the token view")
    fits(phone, "Tokenizer")
    shot(phone, "tokenizer")


def test_chat_answer_and_knobs_within_a_screen_of_send(phone):
    tap_tab(phone, "Chat")
    p = panel(phone)
    p.get_by_label("Message").fill("Hello!")
    send = p.get_by_role("button", name="Send", exact=True)
    send.click()
    answer = phone.locator("#chat-conversation .message-row.bot-row, #chat-conversation .bot").first
    expect(answer).to_be_visible(timeout=SLOW)
    expect(p.get_by_text("stopped by:")).to_be_visible(timeout=SLOW)
    within(answer, send, 1, "the answer")
    within(p.get_by_label("Temperature (0 = greedy)").first, phone.locator("#chat-conversation"), 1,
           "the Temperature knob, from the conversation's top")
    sampler = phone.locator("#chat-sampler")
    expect(sampler.locator(".js-plotly-plot")).to_be_visible(timeout=SLOW)
    title = sampler.locator(".gtitle").first
    t_box, p_box = title.bounding_box(), sampler.bounding_box()
    assert t_box["x"] + t_box["width"] <= p_box["x"] + p_box["width"], \
        f"the sampler chart's title is cut on the right: {t_box} in {p_box}"
    fits(phone, "Chat after an answer")
    shot(phone, "chat")


def test_compare_columns_and_scores_within_two_screens_of_run(phone):
    tap_tab(phone, "Compare")
    p = panel(phone)
    run = p.get_by_role("button", name="Run all stages")
    run.click()
    heads = p.get_by_text("stopped by:")
    expect(heads).to_have_count(len(compare.SLOTS), timeout=SLOW)          # one column per stage of the family
    within(heads.first, run, 1, "the first answer")
    for i in range(heads.count()):
        within(heads.nth(i), run, 2, f"answer column {i + 1}")
    scores = phone.locator("#compare-scores")
    expect(scores.locator("tbody tr")).not_to_have_count(0, timeout=SLOW)
    within(scores, run, 2, "the scores table")
    table_w, box_w = scores.locator("table").first.evaluate(
        "t => [t.getBoundingClientRect().width, t.closest('#compare-scores').clientWidth]")
    assert table_w <= box_w + 1, f"the scores table is cut on the right: {table_w:.0f} px in a {box_w} px box"
    fits(phone, "Compare after a run")
    shot(phone, "compare")


def test_scaling_plan_within_a_screen(phone):
    tap_tab(phone, "Scaling laws")
    plan = panel(phone).get_by_role("button", name="Plan", exact=True)
    phone.locator("#scaling-budget textarea, #scaling-budget input").first.fill("2e22")
    plan.click()
    summary = phone.locator("#scaling-summary")
    expect(summary).to_contain_text("Budget: 2e22 FLOPs", timeout=60_000)
    within(summary, plan, 1, "the plan's summary")
    within(phone.locator("#scaling-table"), plan, 1, "the plan table")
    fits(phone, "Scaling")
    shot(phone, "scaling")


def test_scaling_tables_break_no_word_and_scroll_inside_their_own_box(phone):
    """The measured fits' table has 7 or 8 columns: squeezed into 374 px, Gradio broke its words anywhere
    ("tok/ens/pa/ra/m", "ap/pro/ach"). Now no word is split across lines; a table wider than the screen scrolls
    sideways inside its own box, its last column reachable there, and the page itself does not scroll sideways."""
    tap_tab(phone, "Scaling laws")
    tables = panel(phone).locator(".prose table")
    expect(phone.locator("#scaling-measured-fits table")).to_be_visible(timeout=60_000)
    expect(phone.locator("#scaling-inference table")).to_be_visible(timeout=60_000)
    broken = broken_words(phone, '[role="tabpanel"] .prose table', at_hyphens=True)
    assert not broken, f"words split across lines in the Scaling tab's tables at {W} px: {broken[:12]}"
    for i in range(tables.count()):
        t = tables.nth(i)
        where = t.evaluate("t => t.closest('[id]').id")
        wide, box, right = t.evaluate("t => [t.scrollWidth, t.clientWidth, t.getBoundingClientRect().right]")
        assert right <= W, f"#{where}: the table's box ends at {right:.0f} px, off a {W} px screen"
        if wide > box + 1:                           # too wide for the screen: it must scroll inside its box
            t.evaluate("t => { t.scrollLeft = t.scrollWidth; }")
            last = t.locator("tr").first.locator("th, td").last
            edge = last.evaluate("c => c.getBoundingClientRect().right")
            assert edge <= W + 1, f"#{where}: its last column cannot be scrolled into view (right edge {edge:.0f})"
    fits(phone, "Scaling, its tables")
    shot(phone, "scaling-tables")


def test_inside_look_inside_draws_within_reach_and_fits(phone):
    tap_tab(phone, "Inside the model")
    look = phone.locator("#ins-go")
    expect(phone.locator("#ins-attn .hm")).to_have_count(1, timeout=SLOW)
    look.click()
    expect(phone.locator("#ins-note")).to_contain_text("tokens; the forward pass", timeout=SLOW)
    within(phone.locator("#ins-note"), look, 1, "the note on the forward pass")
    attn = phone.locator("#ins-attn .js-plotly-plot")
    plot_w, box_w = attn.evaluate("e => [e.getBoundingClientRect().right, e.closest('#ins-attn').getBoundingClientRect().right]")
    assert plot_w <= box_w + 1, f"the attention heatmap is cut on the right ({plot_w:.0f} px, its box ends at {box_w:.0f})"
    fits(phone, "Inside")
    shot(phone, "inside")


# The logit lens' cell texts and tick labels as boxes, with their font sizes; pairs of boxes that overlap.
LENS_LABELS = """(root) => { const box = (e) => { const r = e.getBoundingClientRect();
      return {l: r.left, r: r.right, t: r.top, b: r.bottom, px: parseFloat(getComputedStyle(e).fontSize),
              text: e.textContent}; };
  const gd = document.querySelector(root + ' .js-plotly-plot');
  const cells = [...gd.querySelectorAll('.hm text, .heatmaplayer text')].map(box).filter(b => b.text);
  const ticks = [...gd.querySelectorAll('.xtick text, .ytick text')].map(box);
  const overlaps = (list) => { const out = [];
    list.forEach((a, i) => list.slice(i + 1).forEach(b => {
      if (Math.min(a.r, b.r) - Math.max(a.l, b.l) > 1 && Math.min(a.b, b.b) - Math.max(a.t, b.t) > 1)
        out.push(a.text + ' / ' + b.text); })); return out; };
  const r = gd.getBoundingClientRect(), host = gd.closest(root).getBoundingClientRect();
  return {cells: cells.length, ticks: ticks.length, smallest: Math.min(...cells.map(c => c.px), ...ticks.map(c => c.px)),
          overlaps: overlaps(cells).concat(overlaps(ticks)).slice(0, 8), right: r.right, host: host.right}; }"""


def test_inside_logit_lens_is_readable_on_a_phone(phone):
    """At 390 px the desktop lens (blocks × up to 64 positions) gave each position ~9 px: 9 px guesses written over
    each other. On a phone it is drawn turned a quarter (a row per token): every guess and label in >= 11 px type,
    none overlapping another, the figure within its box."""
    tap_tab(phone, "Inside the model")
    expect(phone.locator("#ins-note")).to_contain_text("tokens; the forward pass", timeout=SLOW)
    lens = phone.locator("#ins-lens")
    expect(lens.locator(".js-plotly-plot")).to_be_visible(timeout=SLOW)
    n = len(inside.inspect(inside.DEFAULT_MODEL, inside.DEFAULT_TEXT).tokens)
    try:                                                      # the phone's figure, drawn after the desktop one
        phone.wait_for_function("(n) => document.querySelectorAll('#ins-lens .ytick text').length === n", arg=n,
                                timeout=20_000)
    except PlaywrightTimeout:
        pass                                                  # the asserts below say what is wrong
    lens.scroll_into_view_if_needed()
    got = lens.evaluate(f"() => ({LENS_LABELS})('#ins-lens')")
    assert got["cells"] >= n, f"the lens shows {got['cells']} guesses for {n} tokens"
    assert got["smallest"] >= 11, f"the lens has {got['smallest']} px text on a phone"
    assert not got["overlaps"], f"labels written over each other in the logit lens: {got['overlaps']}"
    assert got["right"] <= got["host"] + 1, f"the lens is cut on the right ({got['right']:.0f} > {got['host']:.0f})"
    fits(phone, "Inside, the logit lens")
    shot(phone, "inside-lens")
