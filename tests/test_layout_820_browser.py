"""At an 820 px wide window (a laptop with a side panel, a projector at 1024 scaled): the Compare tab's family dropdown,
its "What this model saw" prompts and the Scaling tab's plan table fit without a sideways scroll, and no word in
the plan table or the measured fits' table is broken in the middle. Measured in a real browser: element boxes, scroll widths, one box per word."""
import pytest
from playwright.sync_api import expect

from conftest import broken_words, open_app, open_tab
from llm_demo import compare

WIDTH = 820
LONG_PROMPT = ("Tell me a long story about Ivy and her cat, the river behind the old mill and the small red boat that "
               "carried them both to the market on the other side of the valley")

# Elements under `root` whose content is wider than their box (clipped or scrolled sideways), or whose box pokes out
# of the window. Gradio's dataframe keeps a hidden sizing copy of its rows (tbody.sizing-body): not shown, skipped.
OVERFLOWING = """([root, width]) => [...document.querySelectorAll(root)].flatMap(r => [r, ...r.querySelectorAll('*')])
  .filter(e => !e.closest('.sizing-body') && e.getClientRects().length
          && (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0 && getComputedStyle(e).overflowX !== 'visible'
              || e.getBoundingClientRect().right > width + 1))
  .map(e => `${e.tagName}.${e.className.toString().split(' ')[0]} "${(e.innerText || e.value || '').slice(0, 40)}" `
            + `(content ${e.scrollWidth} px in ${e.clientWidth} px, right edge ${Math.round(e.getBoundingClientRect().right)})`)"""



@pytest.fixture
def narrow(browser, app_url):
    ctx, pg = open_app(browser, app_url, viewport={"width": WIDTH, "height": 900})
    yield pg
    ctx.close()


def _page_fits(page, where: str):
    scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"{where}: the page scrolls sideways at {WIDTH} px ({scroll} px of content in {client})"


def test_compare_tab_fits_820_px_and_the_prompt_it_saw_wraps(narrow):
    open_tab(narrow, "Compare")
    panel = narrow.locator('[role="tabpanel"]:visible')
    family = panel.get_by_label("Model family")
    expect(family).to_have_value("TinyGPT trio (ours, offline)")
    text_w, box_w = family.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert text_w <= box_w, f"the family dropdown clips its choice: {text_w} px of text in a {box_w} px box"
    _page_fits(narrow, "Compare tab")

    panel.get_by_label("Prompt").fill(LONG_PROMPT)
    panel.get_by_role("button", name="Run all stages").click()
    n = len(compare.SLOTS)          # one column per stage of the family
    expect(panel.get_by_text("stopped by:")).to_have_count(n, timeout=60_000)
    for accordion in panel.get_by_text("What this model saw").all():
        accordion.click()
    code = panel.locator(".cm-scroller")
    expect(code).to_have_count(n)
    expect(code.first).to_contain_text("valley")
    for i in range(n):
        content_w, box_w = code.nth(i).evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert content_w <= box_w + 1, f"'What this model saw' #{i + 1} does not wrap: {content_w} px in {box_w} px"
    _page_fits(narrow, "Compare tab after a run")


def test_scaling_table_fits_820_px_and_breaks_no_word(narrow):
    open_tab(narrow, "Scaling laws")
    table = narrow.locator("#scaling-table")
    expect(table).to_contain_text("chinchilla-3")
    expect(table.locator("th").first).to_be_visible()
    too_wide = narrow.evaluate(OVERFLOWING, ["#scaling-table", WIDTH])
    assert not too_wide, f"the plan table overflows at {WIDTH} px: {too_wide[:6]}"
    broken = broken_words(narrow, "#scaling-table th, #scaling-table .virtual-row")
    assert not broken, f"words broken across lines in the plan table: {broken[:10]}"
    fits = narrow.locator("#scaling-measured-fits table")      # a Markdown table: Gradio broke it as "approac/h"
    expect(fits).to_be_visible()
    broken = broken_words(narrow, "#scaling-measured-fits table", at_hyphens=True)
    assert not broken, f"words broken across lines in the measured fits' table: {broken[:10]}"
    _page_fits(narrow, "Scaling tab")
