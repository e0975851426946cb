"""Branch trees, step mode and the per-answer measures, on the tiny model (no Gradio, no downloads)."""
import math

import pytest
import torch

from llm_demo import branching, chat, chat_plots, engine, models
from llm_demo.sampling import SamplingConfig

GREEDY = SamplingConfig(temperature=0, max_new_tokens=12)
SAMPLED = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=5)
MSGS = [{"role": "user", "content": "Hello cat"}]


def answer(model, cfg):
    reply = list(chat.stream_reply(model, MSGS, "", cfg))[-1]
    return branching.new_tree(model, "", MSGS, reply.text, reply.steps, reply.finish_reason)


def other_candidate(step):
    return next(i for i, t in enumerate(step["candidate_ids"]) if i != step["chosen"] and t > 2)


def test_a_branch_keeps_the_tokens_before_puts_the_choice_there_and_continues(tiny_chat):
    tree = answer(tiny_chat, GREEDY)
    root = branching.current(tree)
    assert len(root["steps"]) == 12, "the tiny model should fill 12 tokens"
    c = other_candidate(root["steps"][4])
    grown = list(branching.grow_branch(tree, 0, 4, c, GREEDY))
    assert len(grown) >= 2, "the branch should stream"
    new = branching.current(grown[-1])
    assert new["id"] == 1 and new["parent"] == 0 and new["at"] == 4
    assert new["steps"][:4] == root["steps"][:4], "tokens before the branch point must stay"
    assert new["steps"][4]["token_id"] == root["steps"][4]["candidate_ids"][c], "the chosen token is not in place"
    assert len(new["steps"]) == 12, "max new tokens counts the kept and forced tokens"
    lm = models.load(tiny_chat)
    assert new["text"] == lm.tokenizer.decode(branching.token_ids(new["steps"])), "text and tokens disagree"
    assert new["text"] != root["text"]
    assert grown[-1]["branches"][0] == root and tree["branches"] == [root], "the original branch must be kept"


def test_branches_form_a_tree_that_can_be_switched(tiny_chat):
    tree = answer(tiny_chat, GREEDY)
    tree = list(branching.grow_branch(tree, 0, 2, other_candidate(tree["branches"][0]["steps"][2]), GREEDY))[-1]
    b1 = branching.current(tree)
    tree = list(branching.grow_branch(tree, 1, 6, other_candidate(b1["steps"][6]), GREEDY))[-1]
    tree = list(branching.grow_branch(tree, 0, 9, other_candidate(tree["branches"][0]["steps"][9]), GREEDY))[-1]
    rows = branching.tree_rows(tree)
    assert [(r["id"], r["depth"]) for r in rows] == [(0, 0), (1, 1), (2, 2), (3, 1)], rows
    assert sum(r["shown"] for r in rows) == 1 and rows[-1]["shown"], "the newest branch is the one shown"
    assert all(r["logprob"] < 0 and 0 <= r["sampler_p"] <= 1 for r in rows), rows
    back = branching.switch(tree, 0)
    assert branching.current(back)["text"] == tree["branches"][0]["text"] and tree["current"] == 3
    assert "token #3" in rows[1]["label"] and "→" in rows[1]["label"], rows[1]


@pytest.mark.parametrize("args,words", [((5, 0, 1), "no branch 5"), ((0, 12, 1), "not in this answer"),
                                        ((0, -1, 1), "not in this answer"), ((0, 0, 99), "does not exist"),
                                        ((0, "x", 1), "not in this answer"), ((0, 3, None), "does not exist")])
def test_bad_branch_requests_are_refused_with_a_sentence(tiny_chat, args, words):
    tree = answer(tiny_chat, GREEDY)
    with pytest.raises(ValueError, match=words):
        next(branching.grow_branch(tree, *args, GREEDY))


def test_choosing_the_token_already_there_is_refused(tiny_chat):
    tree = answer(tiny_chat, GREEDY)
    with pytest.raises(ValueError, match="already the token here"):
        next(branching.grow_branch(tree, 0, 3, tree["branches"][0]["steps"][3]["chosen"], GREEDY))


def run_steps(session, cfg, choose=lambda s: None):
    session = branching.peek(session, cfg)
    while not session["done"]:
        session = branching.take(session, choose(session))
        session = branching.peek(session, cfg) if not session["done"] else session
    return session


def test_step_mode_with_the_sampler_drawing_equals_a_normal_answer(tiny_chat):
    normal = list(chat.stream_reply(tiny_chat, MSGS, "", SAMPLED))[-1]
    s = run_steps(branching.step_session(tiny_chat, "", MSGS), SAMPLED)
    assert s["text"] == normal.text, "step mode with the same seed drew a different answer"
    assert branching.token_ids(s["steps"]) == branching.token_ids(normal.steps)
    assert s["finish_reason"] == normal.finish_reason
    assert set(s["kinds"]) <= {"greedy pick", "sampled pick"} and "sampled pick" in s["kinds"], s["kinds"]


def test_step_mode_marks_greedy_and_your_picks_differently(tiny_chat):
    s = branching.peek(branching.step_session(tiny_chat, "", MSGS), GREEDY)
    s = branching.take(s, None)
    s = branching.peek(s, GREEDY)
    s = branching.take(s, other_candidate(s["next"]))
    assert s["kinds"] == ["greedy pick", "your pick"], s["kinds"]
    assert s["steps"][1].get("forced") is None
    with pytest.raises(ValueError, match="no distribution"):
        branching.take(s, 0)
    with pytest.raises(ValueError, match="Type a message"):
        branching.step_session(tiny_chat, "", [])


def test_measures_match_a_manual_forward_pass(tiny_chat):
    tree = answer(tiny_chat, SAMPLED)
    steps = branching.current(tree)["steps"]
    lm = models.load(tiny_chat)
    prompt = models.build_prompt(lm.spec, lm.tokenizer, MSGS)
    p_ids, ids = engine.encode_prompt(lm, prompt), branching.token_ids(steps)
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([p_ids + ids])).logits[0].float(), -1)
    rows = logp[len(p_ids) - 1:-1]                                     # position t predicts token t+1
    manual = float(rows.gather(1, torch.tensor(ids)[:, None]).sum())
    m = branching.answer_measures(steps)
    assert math.isclose(m["total_logprob"], manual, rel_tol=1e-3), (m["total_logprob"], manual)
    assert math.isclose(m["perplexity"], math.exp(-manual / len(ids)), rel_tol=1e-3)
    h = -(rows.exp() * rows).sum(-1)
    assert torch.allclose(torch.tensor(m["entropy"]), h, atol=1e-3), "per-step entropy differs from the model's"
    assert all(0 <= e <= math.log(lm.model.config.vocab_size) + 1e-4 for e in m["entropy"])
    fig = chat_plots.measures_figure(steps)
    assert [len(d.x) for d in fig.data] == [len(steps)] * 3 and "Perplexity" in fig.layout.title.text
    assert "perplexity" in branching.measures_text(steps)
