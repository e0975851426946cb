"""Real-browser test of the Scaling tab's "Measured on this laptop" section and the planner's measured law.
Writes assets/screenshots/scaling-measured.png (docs/tabs.md shows it)."""
from playwright.sync_api import expect

from conftest import SCREENSHOTS, open_tab
from llm_demo import scaling, sweep_plots
from llm_demo.scaling_plots import fmt_flops


def test_measured_section_shows_the_sweep_and_the_planner_uses_it(page):
    open_tab(page, "Scaling laws")
    fits = sweep_plots.load_fits()
    section = page.locator("#scaling-measured")
    expect(section).to_contain_text("Measured on this laptop")
    table = page.locator("#scaling-measured-fits")
    expect(table).to_contain_text(f"{fits['approach2']['a']:.2f}")  # the shipped exponent, as the CSV gives it
    expect(table).to_contain_text("2: IsoFLOP parabolas")
    legend = page.locator("#scaling-measured-isoflop .legend")
    for c in fits["budgets"]:
        expect(legend).to_contain_text(f"C = {fmt_flops(c)}")
    expect(page.locator("#scaling-measured-optimum .legend")).to_contain_text("Chinchilla Approach 2")

    expect(page.locator("#scaling-summary")).to_contain_text("Not in the table")  # 1e21 is far outside
    expect(page.locator("#scaling-summary")).to_contain_text("tinygpt-measured was measured on budgets")
    budget = page.locator("#scaling-budget textarea")
    budget.fill(fmt_flops(scaling.LAWS["tinygpt-measured"].c_hi))
    budget.press("Enter")
    expect(page.locator("#scaling-table")).to_contain_text("tinygpt-measured")
    expect(page.locator("#scaling-summary")).not_to_contain_text("Not in the table")

    section.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let plotly finish drawing
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "scaling-measured.png"))
