"""Issue 27 item 10 through the running app (python app.py): a copied link opens, and an over-long URL answers a
page that says why (HTTP 414), never Gradio's HTTP 500."""
import urllib.error
import urllib.request

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
