"""Inside the model through the running app's API (gradio_client): named endpoints that answer, and refusals
that are one sentence."""
import pytest

from llm_demo import inside

ENDPOINTS = {"/inside_update", "/inside_attention", "/inside_causality", "/inside_positions", "/inside_modern",
             "/inside_neighbours", "/inside_minigpt", "/inside_kv"}
TEXT = inside.DEFAULT_TEXT


def test_inside_endpoints_are_listed(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert ENDPOINTS <= named, f"missing: {sorted(ENDPOINTS - named)}"


def test_update_causality_minigpt_and_kv_answer_through_the_api(client):
    note, arch, attn, heads, lens, layer, head, token = client.predict("tinygpt-base", TEXT, 2, 3,
                                                                        api_name="/inside_update")
    assert "tokens; the forward pass" in note, note
    assert "2,615,424" in arch and "× 4 blocks" in arch, "the architecture card lost its numbers"
    assert "Layer 2, head 3" in str(attn), "the attention figure is not the one asked for"
    assert (layer["value"], layer["maximum"], head["value"], head["maximum"]) == (2, 4, 3, 6), (layer, head)

    attn, heads = client.predict("tinygpt-base", TEXT, 4, 0, api_name="/inside_attention")
    assert "Layer 4, mean over heads" in str(attn)

    md, _ = client.predict("tinygpt-base", TEXT, "dance", api_name="/inside_causality")
    assert "identical" in md and "dance" in md, md

    md = client.predict("tinygpt-base", TEXT, api_name="/inside_minigpt")
    assert "≤ 1e-4" in md and "Same top next token at every position: **yes**" in md, md

    md, _, table = client.predict("tinygpt-base", "One foggy morning,", 3, api_name="/inside_kv")
    assert "Same tokens from the seed's loop: **yes**" in md, md
    assert len(table["data"]) == 3 and table["data"][-1][2].startswith("4 × 2 × 6 × "), table


@pytest.mark.parametrize("endpoint,args,refusal", [
    ("/inside_update", ("tinygpt-base", "   ", 1, 0), "text is empty"),
    ("/inside_update", ("no-such-model", TEXT, 1, 0), "not in the list of choices"),
    ("/inside_attention", ("tinygpt-base", TEXT, 9, 0), "greater than maximum"),
    ("/inside_causality", ("tinygpt-base", "...", ""), "no word at its end"),
    ("/inside_neighbours", ("tinygpt-base", "supercalifragilistic"), "pick one"),
    ("/inside_minigpt", ("tinygpt-base", ""), "text is empty"),
    ("/inside_kv", ("tinygpt-base", "One foggy morning,", 99), "greater than maximum"),
])
def test_bad_input_is_refused_with_one_sentence(client, endpoint, args, refusal):
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name=endpoint)
    message = str(err.value)
    assert refusal in message and "Traceback" not in message, f"{endpoint}: {message[:300]}"
