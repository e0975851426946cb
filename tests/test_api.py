"""The Gradio API of the running app, through gradio_client: stable named endpoints that answer."""
import re

from gradio_client import Client

EXPECTED = {"/tokenize", "/compare_tokenizers", "/bpe_trace", "/chat", "/chat_regenerate", "/temperature_sweep",
            "/compare", "/compare_scores", "/compare_vote", "/compare_download", "/scaling_plan"}


def test_named_endpoints_are_listed(app_url):
    api = Client(app_url, verbose=False).view_api(print_info=False, return_format="dict")
    named = set(api["named_endpoints"])
    assert EXPECTED <= named, f"missing endpoints: {sorted(EXPECTED - named)}"
    assert not api["unnamed_endpoints"], f"every event needs an api_name or api_name=False: {api['unnamed_endpoints']}"


def test_cheap_endpoints_answer_through_the_api(app_url):
    client = Client(app_url, verbose=False)
    view, budget_md, budget = client.predict("Hello, world!", "gpt2", "", False, False, api_name="/tokenize")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", view, flags=re.S)))
    assert " 4 tokens " in text, f"GPT-2 splits 'Hello, world!' into 4 tokens; the view said {text[:300]}"
