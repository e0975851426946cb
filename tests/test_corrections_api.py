"""Issue 27 through the running app (python app.py): a copied link opens and an over-long URL answers a page that
says why (HTTP 414), never Gradio's 500 (item 10); /inside_positions with the model already drawn answers (9); lone
surrogates reach /bpe_trace, /chat_overhead, /inside_update and /chat replaced (15)."""
import json
import urllib.error
import urllib.request

import pytest

from llm_demo import links


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
    """Item 9. The drawn model is a gr.State (not an API parameter): the session's second call finds it drawn."""
    client.predict("tinygpt-base", api_name="/inside_positions")
    client.predict("tinygpt-base", api_name="/inside_positions")   # raised "needed: 3, returned: 1" before


def call_raw(app_url: str, endpoint: str, args) -> str:
    """An API call as raw HTTP, as a script sends it: json.dumps writes a lone surrogate as the escape \\ud800,
    which gradio_client cannot (it encodes its payload as UTF-8 first). Returns the answer's SSE text."""
    base = app_url.rstrip("/") + "/gradio_api/call" + endpoint
    req = urllib.request.Request(base, data=json.dumps({"data": list(args)}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        event = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{base}/{event}", timeout=60) as r:
        return r.read().decode()


@pytest.mark.parametrize("endpoint,args", [
    ("/bpe_trace", ("lo\ud800w", "gpt2", "")),
    ("/chat_overhead", ("user: hi\ud800\nassistant: hello", "smollm2-135m-instruct")),
    ("/inside_update", ("tinygpt-base", "Tom has a\ud800 red ball.", 1, 0)),
    ("/chat", ("Hi\ud800", [{"role": "user", "content": [{"type": "text", "text": "x\udfff"}]},
               {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]}],
               "tinygpt-sft", "", 0, 50, 0.9, 1.0, 4, 0, "")),
])
def test_lone_surrogates_are_replaced_through_the_api(app_url, endpoint, args):
    """Item 15: these crashed (TypeError from the tokenizer, with tracebacks) or showed a raw codec error; /chat also
    gets a lone surrogate in the history it is sent."""
    out = call_raw(app_url, endpoint, args)
    assert "event: complete" in out and "codec" not in out, out[:400]
