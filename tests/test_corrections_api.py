"""Issue 27 through the running app (python app.py): an over-long link answers a page that says why, not HTTP 500;
/inside_positions with an unchanged model answers; lone surrogates reach /chat_overhead and /bpe_trace replaced."""
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

from llm_demo import links


@pytest.fixture(scope="module")
def client(app_url):
    c = Client(app_url, verbose=False)
    yield c
    c.close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_a_link_of_the_copy_cap_opens_and_an_over_long_one_says_why(app_url):
    q, _ = links.build_fitting("tokenizer", {"tokenizer": "gpt2", "text": "x" * 100_000})
    status, _ = get(app_url.rstrip("/") + "/" + q)
    assert status == 200, f"a link Copy link makes ({len(q):,} characters) must open"
    status, body = get(app_url.rstrip("/") + "/?tab=tokenizer&text=" + "a" * 70_000)
    assert status == 414 and "too long" in body and "Internal Server Error" not in body, (status, body[:300])


def test_positions_with_the_model_already_drawn_answers(client):
    """The drawn model is a gr.State (not an API parameter): the session's second call finds it already drawn."""
    client.predict("tinygpt-base", api_name="/inside_positions")
    client.predict("tinygpt-base", api_name="/inside_positions")   # raised "needed: 3, returned: 1" before


def test_lone_surrogates_are_replaced_through_the_api(client):
    out = client.predict("lo\ud800w", "gpt2", "", api_name="/bpe_trace")
    assert "codec" not in str(out), str(out)[:300]
    client.predict("user: hi\ud800\nassistant: hello", "smollm2-135m-instruct", api_name="/chat_overhead")
