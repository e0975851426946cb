"""A student in class mode runs a blind comparison, votes, sees the reveal and the class leaderboard."""
import re

import pytest
from playwright.sync_api import expect

from conftest import CHROMIUM_ARGS, CHROMIUM, open_tab, screenshot
from llm_demo import models
from llm_demo.arena_store import LABELS
from llm_demo.bench.launch import start_app, stop_app


@pytest.fixture(scope="module")
def class_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    proc, url = start_app(folder / "app.log", timeout_s=60, env=dict(LLM_DEMO_CLASS_DB=str(folder / "class.sqlite3"),
                                                                     LLM_DEMO_TEACHER_TOKEN="browser-test-token"))
    yield url
    stop_app(proc)


@pytest.mark.skipif(not models.availability("tinygpt-sft")[0], reason="the TinyGPT trio is not built")
def test_blind_vote_reveals_the_models_and_updates_the_class_leaderboard(browser, class_app):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(class_app)
    open_tab(page, "Compare")
    panel = page.locator('[role="tabpanel"]:visible')
    expect(panel.get_by_text("Class mode is on")).to_be_visible()
    for prompt, best, worst in (("What is your name?", "A", "C"), ("Where does Hugo live?", "B", None)):
        panel.get_by_label("Prompt", exact=True).fill(prompt)
        panel.get_by_role("button", name="Run blind").click()
        for label in LABELS:          # the TinyGPT lineup: base, SFT, RLHF and DPO, one per label
            expect(panel.get_by_label(f"Answer {label}")).not_to_have_value("", timeout=60_000)
        expect(panel.get_by_text(re.compile(r"\d+ tokens? · finished"))).to_have_count(len(LABELS), timeout=60_000)
        heads = panel.locator(".prose").all_inner_texts()
        assert not any("tinygpt-" in h for h in heads if h.strip()[:1] in LABELS), "a model name shows before the vote"
        page.locator("#arena-best").get_by_role("radio", name=best, exact=True).check()
        if worst:
            page.locator("#arena-worst").get_by_role("radio", name=worst, exact=True).check()
        panel.get_by_role("button", name="Vote and reveal").click()
        expect(panel.get_by_text("← your best")).to_be_visible()
        expect(panel.get_by_text("receipt #")).to_be_visible()
    expect(panel.get_by_text("tinygpt-dpo").first).to_be_visible()
    expect(panel.get_by_text("2 votes")).to_be_visible(timeout=30_000)
    expect(panel.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    panel.get_by_text("Leaderboard (the whole class)").scroll_into_view_if_needed()
    screenshot(page, "arena")
    ctx.close()
