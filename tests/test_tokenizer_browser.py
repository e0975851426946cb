"""Real browser: type into the Tokenizer tab, watch the token count change, switch tokenizer, save a screenshot."""
from playwright.sync_api import expect

from conftest import open_tab, screenshot

RUSSIAN = "Быстрая коричневая лиса прыгает через ленивую собаку."
SHOWCASE = ("Hello, world! Tokenization splits rare words: supercalifragilisticexpialidocious.\n"
            "Привет, мир! Grüße aus Köln! مرحبا بالعالم 👋🏽 1234567 <|endoftext|>\n"
            "def f(x):\n\treturn x  # tab-indented")


def count(page) -> int:
    return int(page.locator('#tok-view [data-count="tokens"] b').inner_text().replace(",", ""))


def test_type_count_switch_tokenizer_and_screenshot(page):
    open_tab(page, "Tokenizer")
    tokens = page.locator('#tok-view [data-count="tokens"] b')
    expect(tokens).to_have_text("4")  # "Hello, world!" with GPT-2: Hello | , | ·world | !

    page.locator("#tok-text textarea").fill("The quick brown fox jumps over the lazy dog.")
    expect(tokens).to_have_text("10")  # 9 words and a full stop
    spans = page.locator("#tok-view .tok")
    expect(spans).to_have_count(10)

    page.locator("#tok-text textarea").fill(RUSSIAN)
    expect(tokens).not_to_have_text("10")
    gpt2_count = count(page)

    page.locator("#tok-choice input").click()
    page.get_by_role("option", name="GPT-4o (o200k_base)").click()
    expect(page.locator('#tok-view [data-count="tokenizer"]')).to_have_text("GPT-4o (o200k_base)")
    expect(tokens).not_to_have_text(str(gpt2_count))
    assert count(page) < gpt2_count, f"GPT-4o should need fewer tokens than GPT-2 for Russian ({count(page)})"

    page.locator("#tok-ids input").check()
    expect(page.locator("#tok-view .tok sub").first).to_be_visible()
    page.locator("#tok-text textarea").fill(SHOWCASE)
    expect(tokens).not_to_have_text(str(count(page)))
    expect(page.locator("#tok-view .hex").first).to_be_visible()  # the emoji's partial bytes as <0x..>
    screenshot(page, "tokenizer")


def test_special_token_toggle_and_offline_hub_id_message(page):
    open_tab(page, "Tokenizer")
    page.locator("#tok-text textarea").fill("end<|endoftext|>")
    expect(page.locator("#tok-view")).to_contain_text("shown as plain text")
    expect(page.locator("#tok-view .tok.special")).to_have_count(0)
    page.locator("#tok-special input").check()
    expect(page.locator("#tok-view .tok.special")).to_have_count(1)

    page.locator("#tok-hub").get_by_role("textbox").fill("openai-community/gpt2")
    page.locator("#tok-hub").get_by_role("textbox").press("Enter")  # the app's tests run with HF_HUB_OFFLINE=1
    expect(page.get_by_text("not available offline").first).to_be_visible()
