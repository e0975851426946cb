"""A person runs a curated prompt in the Compare tab, sees four columns fill (base, SFT, RLHF, DPO), scores and the
reward model's score under each answer appear, and votes."""
from playwright.sync_api import expect

from conftest import open_tab, screenshot
from llm_demo import compare


def test_compare_runs_four_columns_scores_and_votes(page):
    open_tab(page, "Compare")
    panel = page.locator('[role="tabpanel"]:visible')
    # the curated prompt's button (the explainer quotes the same prompt among the KL-off run's samples)
    panel.get_by_role("button", name="What does Ivy like to eat?", exact=True).click()
    expect(panel.get_by_label("Prompt")).to_have_value("What does Ivy like to eat?")
    panel.get_by_role("button", name="Run all stages").click()
    answers = panel.get_by_label("Answer")
    for i in range(len(compare.SLOTS)):
        expect(answers.nth(i)).not_to_have_value("", timeout=60_000)
    expect(panel.get_by_text("stopped by:").first).to_be_visible(timeout=60_000)
    expect(panel.get_by_text("stopped by:")).to_have_count(len(compare.SLOTS), timeout=60_000)
    expect(panel.get_by_role("gridcell", name="DPO", exact=True)).to_be_visible(timeout=60_000)
    expect(panel.get_by_role("gridcell", name="RLHF (RLOO)", exact=True)).to_be_visible(timeout=60_000)
    # the reward model's score under every column's answer
    for slot in compare.SLOTS:
        expect(panel.locator(f"#rm-{slot}")).to_contain_text("Reward model:", timeout=60_000)
    panel.get_by_role("button", name="Record vote").click()
    expect(panel.get_by_text("1 vote this session.")).to_be_visible(timeout=30_000)
    screenshot(page, "compare")
