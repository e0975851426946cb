"""Real-browser test of the Scaling tab: change the budget, see the table and plots follow; garbage draws nothing.
Also the same endpoint through gradio_client. Writes assets/screenshots/scaling.png."""
import pytest
from playwright.sync_api import expect

from conftest import open_tab, screenshot


def _legend(page, plot_id: str) -> str:
    return page.locator(f"#{plot_id} .legend").text_content()


def test_budget_change_updates_table_and_plots(page):
    open_tab(page, "Scaling laws")
    expect(page.locator("#scaling-isoflop .legend")).to_contain_text("C = 1e21")
    table = page.locator("#scaling-table")
    expect(table).to_contain_text("chinchilla-3")
    expect(table).to_contain_text("kaplan-2020")

    budget = page.locator("#scaling-budget textarea")
    budget.fill("3.5e23")
    budget.press("Enter")
    expect(page.locator("#scaling-isoflop .legend")).to_contain_text("C = 3.5e23")  # the user's curve is redrawn
    expect(page.locator("#scaling-summary")).to_contain_text("3.5e23 FLOPs")
    expect(table).to_contain_text("3.5e23")
    expect(page.locator("#scaling-contour .legend")).to_contain_text("your optimum")
    expect(page.locator("#scaling-models")).to_contain_text("Chinchilla")
    expect(page.locator("#scaling-inference")).to_contain_text("smaller model")

    budget.fill("1e40")
    budget.press("Enter")
    expect(page.get_by_text("beyond 1e35 FLOPs").first).to_be_visible()
    assert "C = 3.5e23" in _legend(page, "scaling-isoflop"), "a refused budget must leave the last good plots alone"

    page.locator(".toast-close").first.click()  # dismiss the error, then leave the screenshot on a valid plan
    budget.fill("3.5e23")
    budget.press("Enter")
    expect(page.locator("#scaling-summary")).to_contain_text("3.5e23 FLOPs")
    page.locator("#scaling-isoflop").scroll_into_view_if_needed()
    screenshot(page, "scaling")


def test_architecture_calculator_explains_minigpt(page):
    open_tab(page, "Scaling laws")
    params = page.locator("#scaling-params")
    expect(params).to_contain_text("124,439,808")
    page.get_by_label("output head tied to the embedding").uncheck()
    expect(params).to_contain_text("163,037,184")
    page.get_by_role("button", name="Use this N in the planner").click()  # the count becomes the planner's N
    expect(page.get_by_role("radio", name="model size N")).to_be_checked()
    expect(page.locator("#scaling-table")).to_contain_text("163M")
    expect(page.locator("#scaling-summary")).to_contain_text("each law needs its own budget")


def test_api_plans_and_refuses_garbage(app_url):
    from gradio_client import Client
    client = Client(app_url, verbose=False)
    args = dict(mode="compute budget (FLOPs)", budget="1e21", gpu="A100", custom_tflops=None, n_gpus=64, hours=24,
                mfu=0.4, price=None, n_params="1B", law="chinchilla-3", inference_tokens="1e12")
    summary, table, *_ = client.predict(*args.values(), api_name="/scaling_plan")
    assert "1e21 FLOPs" in summary, summary
    assert [row[0] for row in table["data"]][:3] == ["chinchilla-1", "chinchilla-2", "chinchilla-3"], table
    summary, *_ = client.predict(*dict(args, mode="GPUs × hours").values(), api_name="/scaling_plan")
    assert "6.9e20 FLOPs" in summary and "64× A100" in summary, summary  # 64 × 312 TFLOP/s × 40% × 24 h
    for bad, says in ((dict(budget="-5"), "greater than zero"), (dict(budget="nan"), "finite"),
                      (dict(mfu=1.5), "fraction in (0, 1]"), (dict(budget="lots"), "not a number")):
        with pytest.raises(Exception) as err:
            client.predict(*dict(args, **bad).values(), api_name="/scaling_plan")
        assert says in str(err.value), f"{bad}: expected {says!r} in {err.value}"
