"""Real-browser smoke test: the app serves four tabs and each one shows its content."""
import pytest
from playwright.sync_api import expect

from conftest import open_tab

TABS = ["Lesson", "Tokenizer", "Chat", "Compare", "Scaling laws", "Inside the model"]


@pytest.mark.parametrize("tab", TABS)
def test_each_tab_opens_and_shows_its_heading(page, tab):
    """Each tab's own browser test takes the README screenshot once it has done something real."""
    open_tab(page, tab)
    panel = page.locator('[role="tabpanel"]:visible')
    expect(panel.locator("h2").first).to_be_visible()
    assert panel.inner_text().strip(), f"tab {tab!r} shows no content"


def test_page_title_and_intro(page):
    assert page.title() == "LLM Lab", f"unexpected page title {page.title()!r}"
    expect(page.get_by_text("how large language models work").first).to_be_visible()
