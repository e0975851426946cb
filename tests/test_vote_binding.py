"""Votes are bound to the run the server recorded (issue 17, bug 5): a Prompt box edited after the run, as the
browser sends it at vote time, must not be paired with the old answers."""
from gradio_client import Client

from llm_demo import models
from llm_demo.training.pairs import load_pairs_jsonl

import pytest


@pytest.mark.skipif(not models.availability("tinygpt-sft")[0], reason="the TinyGPT trio is not built")
def test_a_private_vote_pairs_the_answers_with_the_prompt_that_produced_them(app_url):
    client = Client(app_url, verbose=False)
    client.predict("tinygpt", "What is your name?", "", 0, 50, 1.0, 1.0, 8, 0, api_name="/compare")
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/compare_vote"]
    # What the page sends with the vote; before the fix this included the Prompt box, edited after the run.
    sent = {"prompt": "Where does Hugo live?", "better": "dpo", "worse": "base"}
    client.predict(*[sent[p["parameter_name"]] for p in api["parameters"]], api_name="/compare_vote")
    pairs = load_pairs_jsonl(client.predict(api_name="/compare_download"))
    assert pairs[0]["prompt"] == "What is your name?", f"the vote was paired with another prompt: {pairs[0]}"
    client.close()


def test_the_arena_vote_endpoint_takes_a_choice_and_nothing_a_forger_could_fill_with_answers(app_url):
    """The run (prompt, answers, order) stays on the server; the page sends only its labels."""
    client = Client(app_url, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/arena_vote"]["parameters"]] == ["best", "worst"], api["/arena_vote"]
    with pytest.raises(Exception, match="blind comparison first"):
        client.predict("A", None, api_name="/arena_vote")              # a page that never ran anything
    client.close()
