"""Real browser: open Inside the model, wait for the heatmaps, switch layer and head, run the causality check
and the seed's MiniGPT, save the README screenshot."""
from playwright.sync_api import expect

from conftest import open_tab, screenshot


def test_open_the_tab_draw_the_heatmaps_and_screenshot(page):
    open_tab(page, "Inside the model")
    expect(page.locator("#ins-note")).to_contain_text("tokens; the forward pass", timeout=60_000)
    # Plotly draws each heatmap as a .hm group; the small multiples have one per head (TinyGPT has 6).
    expect(page.locator("#ins-attn .hm")).to_have_count(1, timeout=30_000)
    expect(page.locator("#ins-heads .hm")).to_have_count(6, timeout=30_000)
    expect(page.locator("#ins-lens .hm")).to_have_count(1, timeout=30_000)
    expect(page.locator("#ins-arch")).to_contain_text("× 4 blocks")
    expect(page.locator("#ins-arch")).to_contain_text("2,615,424")
    expect(page.locator("#ins-modern")).to_contain_text("RoPE", timeout=60_000)

    page.locator("#ins-layer input[type=number]").fill("3")
    page.locator("#ins-layer input[type=number]").press("Enter")
    expect(page.locator("#ins-attn")).to_contain_text("Layer 3, mean over heads", timeout=30_000)
    page.locator("#ins-head input[type=number]").fill("2")
    page.locator("#ins-head input[type=number]").press("Enter")
    expect(page.locator("#ins-attn")).to_contain_text("Layer 3, head 2", timeout=30_000)

    page.locator("#ins-causal").click()
    expect(page.locator("#ins-causal-result")).to_contain_text("identical", timeout=60_000)

    page.locator("#ins-layer input[type=number]").fill("9")              # the model has 4 layers
    page.locator("#ins-layer input[type=number]").press("Enter")
    expect(page.get_by_text("Value 9 is greater than maximum value 4").first).to_be_visible()
    expect(page.locator("#ins-attn")).to_contain_text("Layer 3, head 2")  # the last good view stays
    page.locator(".toast-close").first.click()                            # then a valid layer for the screenshot
    page.locator("#ins-layer input[type=number]").fill("2")
    page.locator("#ins-layer input[type=number]").press("Enter")
    expect(page.locator("#ins-attn")).to_contain_text("Layer 2, head 2", timeout=30_000)
    expect(page.locator("#ins-heads")).to_contain_text("Layer 2, every head")
    screenshot(page, "inside")
