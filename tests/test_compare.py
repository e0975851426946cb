"""Compare tab core and handlers: one stream per stage (four for a family with RLHF), scores with the right DPO
sign, votes as DPO JSONL. Columns are addressed by slot (col(cols, "dpo")), never by position."""
import dataclasses
import math

import pytest
import torch

from llm_demo import compare, compare_views, engine, models
from llm_demo.sampling import SamplingConfig
from llm_demo.training.pairs import load_pairs_jsonl
from llm_demo.ui import compare_tab

PROMPT = "Hello cat"
LIKED = "The cat sat on the mat."
OTHER = "A dog ran in the park."


@pytest.fixture(scope="module")
def dpo_dir(tiny_dir, tmp_path_factory):
    """A 'DPO' model that clearly prefers LIKED: the tiny SFT model nudged toward it with a few gradient steps."""
    from tiny import load_tiny
    lm = load_tiny(tiny_dir, "dpo")
    prompt = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}])
    ids = lm.tokenizer(prompt + LIKED, add_special_tokens=False, return_tensors="pt")["input_ids"]
    model = lm.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(20):
        loss = model(ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    folder = tmp_path_factory.mktemp("dpo")
    model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_family(monkeypatch, tiny_dir, dpo_dir):
    specs = {f"tiny-{st}": models.ModelSpec(f"tiny-{st}", "tinyfam", st, "embedded", str(d), f"tiny {st}")
             for st, d in (("base", tiny_dir), ("sft", tiny_dir), ("rlhf", tiny_dir), ("dpo", dpo_dir))}
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, **specs})
    return "tinyfam"


def col(cols, slot):
    """The column of one stage: tests name the stage, so a family with more or fewer stages keeps its meaning."""
    return next(c for c in cols if c.slot == slot)


def run(family, seed=0, temperature=1.0, n=10):
    cfg = SamplingConfig(temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=n, seed=seed)
    return list(compare.stream_columns(family, PROMPT, cfg))


def test_four_columns_stream_together_and_finish(tiny_family):
    updates = run(tiny_family)
    first_full = next(i for i, cols in enumerate(updates) if all(c.n_tokens > 0 for c in cols))
    assert first_full <= 1, "all four columns should have their first token after one round"
    final = updates[-1]
    assert [c.slot for c in final] == ["base", "sft", "rlhf", "dpo"]
    assert all(c.done and c.n_tokens > 0 and not c.error for c in final), [(c.slot, c.error) for c in final]
    assert col(final, "base").prompt == PROMPT, "base gets plain text"
    assert all(c.prompt.startswith("<|user|>") for c in final if c.slot != "base"), "the chat stages get the template"
    assert all(c.prompt_tokens > 0 for c in final)


def test_columns_take_timed_turns_after_a_first_token_each(tiny_family, monkeypatch):
    """After a first round of one token per column, each column keeps the cores for compare.TURN_S (fewer model
    switches, each of which reloads a model's weights into the CPU caches): with a long turn the second round runs
    the columns to their end one by one; with TURN_S = 0 every round gives each running column one token."""
    def counts():        # the columns are updated in place: note (tokens, done) at every update
        cfg = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=0)
        return [[(c.n_tokens, c.done) for c in cols] for cols in compare.stream_columns(tiny_family, PROMPT, cfg)]

    monkeypatch.setattr(compare, "TURN_S", 30.0)
    updates = counts()
    assert [n for n, _ in updates[1]] == [1] * len(compare.SLOTS) and len(updates) == 3, updates
    assert all(done for _, done in updates[2]), updates
    monkeypatch.setattr(compare, "TURN_S", 0.0)
    updates = counts()
    assert len(updates) > 3
    for before, after in zip(updates[1:], updates[2:]):
        assert [a[0] - b[0] for a, b in zip(after, before)] == [0 if b[1] else 1 for b in before], (before, after)


def test_same_seed_reproduces_every_column(tiny_family):
    a = [c.text for c in run(tiny_family, seed=3)[-1]]
    b = [c.text for c in run(tiny_family, seed=3)[-1]]
    assert a == b, "same seed and settings must give the same answers"


def test_a_missing_or_broken_stage_is_greyed_and_the_others_run(monkeypatch, tiny_family, tmp_path):
    broken = models.ModelSpec("tiny-dpo", "tinyfam", "dpo", "embedded", str(tmp_path), "tiny dpo")
    monkeypatch.setitem(models.REGISTRY, "tiny-dpo", broken)
    final = run(tiny_family)[-1]
    assert "not built yet" in col(final, "dpo").error, col(final, "dpo")
    assert all(c.n_tokens > 0 and not c.error for c in final if c.slot != "dpo"), "one failing column must not stop the others"
    cols = compare.plan_columns("smollm2-135m")
    assert col(cols, "sft").title.startswith("Instruct") and "no separate DPO" in col(cols, "dpo").error
    assert "no separate RLHF" in col(cols, "rlhf").error, "the greyed RLHF column names its own stage"


def test_scores_are_finite_and_the_dpo_reward_sign_is_right(tiny_family):
    cols = run(tiny_family, temperature=0)[-1]
    col(cols, "sft").text, col(cols, "dpo").text = LIKED, OTHER       # score two known answers
    s = compare.score_columns(tiny_family, PROMPT, cols)
    for ans, per in s.mean_logprob.items():
        assert all(math.isfinite(v) and v < 0 for v in per.values()), (ans, per)
    assert s.dpo_reward["sft"] > 0, "the DPO model was tuned toward LIKED: its implicit reward must be positive"
    assert s.dpo_reward["sft"] > s.dpo_reward["dpo"], "LIKED must out-score OTHER under the DPO reward"
    assert s.beta == compare.DEFAULT_BETA
    rows = compare.scores_table(s)
    answered = [c for c in cols if c.text]
    assert len(rows) == len(answered) and all(len(r) == 1 + len(compare.SLOTS) + 2 for r in rows), rows


def test_votes_export_as_dpo_jsonl_that_training_accepts(tiny_family, tmp_path):
    cols = run(tiny_family)[-1]
    col(cols, "base").text, col(cols, "dpo").text = "meh", "Lovely answer."
    v = compare.make_vote(compare.Run(tiny_family, PROMPT, cols=cols), "dpo", "base")
    path = compare.write_votes_jsonl([v, v], tmp_path)
    assert load_pairs_jsonl(path) == [{"prompt": PROMPT, "chosen": "Lovely answer.", "rejected": "meh"}] * 2


def test_votes_on_unfinished_or_missing_answers_are_refused(tiny_family):
    updates = run(tiny_family, n=6)
    early = updates[1]
    with pytest.raises(ValueError, match="unfinished"):
        compare.make_vote(compare.Run(tiny_family, PROMPT, cols=[compare.Column(c.slot, c.model, text="x")
                                                                for c in early]), "dpo", "sft")
    with pytest.raises(ValueError, match="different"):
        compare.make_vote(compare.Run(tiny_family, PROMPT, cols=updates[-1]), "sft", "sft")
    with pytest.raises(ValueError, match="No votes"):
        compare.write_votes_jsonl([], None)
    with pytest.raises(Exception, match="unfinished"):
        compare_tab.vote(compare.Run(tiny_family, PROMPT, cols=updates[-1]), True, "dpo", "sft", [])
    with pytest.raises(Exception, match="Run a prompt first"):
        compare_tab.vote(None, False, "dpo", "sft", [])


def test_handler_streams_views_and_refuses_empty_prompt(tiny_family):
    outs = list(compare_tab.run_compare(tiny_family, PROMPT, "", 0.7, 50, 1.0, 1.0, 8, 0))
    assert outs[0]["busy"] is True and outs[-1]["busy"] is False, "busy must go up while streaming, down at the end"
    final = outs[-1]
    for slot in compare.SLOTS:
        assert "stopped by" in final[f"{slot}_head"], final[f"{slot}_head"]
        assert final[f"{slot}_answer"] == next(c.text for c in final["run"].cols if c.slot == slot)
        assert "prompt tokens" in final[f"{slot}_saw_n"], final[f"{slot}_saw_n"]
    assert final["base_saw"] == PROMPT and final["sft_saw"].startswith("<|user|>"), "what each model saw"
    empty = list(compare_tab.run_compare(tiny_family, "  ", "", 0.7, 50, 1.0, 1.0, 8, 0))
    assert empty == [{"busy": False}], f"an empty prompt must change nothing but busy: {empty}"
    with pytest.raises(Exception, match="Top-p"):
        list(compare_tab.run_compare(tiny_family, PROMPT, "", 0.7, 50, 0, 1.0, 8, 0))


def test_score_handler_waits_for_the_run_then_fills_the_table(tiny_family):
    final = run(tiny_family, temperature=0)[-1]
    ran = compare.Run(tiny_family, PROMPT, cols=final)
    waiting = compare_tab.score(ran, True)
    assert waiting["table"] is None and "finished" in waiting["score_note"], waiting
    done = compare_tab.score(ran, False)
    assert [r[0] for r in done["table"]] == [compare.SLOT_TITLES[c.slot] for c in final], done
    assert "β =" in done["score_note"], done


def test_vote_handler_counts_the_session_votes(tiny_family):
    final = run(tiny_family)[-1]
    col(final, "base").text, col(final, "dpo").text = "meh", "Lovely answer."
    out = compare_tab.vote(compare.Run(tiny_family, PROMPT, cols=final), False, "dpo", "base", [])
    assert len(out["votes"]) == 1 and out["vote_note"] == "1 vote this session.", out


def test_a_column_that_fails_with_a_bug_does_not_stop_the_others(tiny_family, monkeypatch, caplog):
    from llm_demo import batching
    real = batching.stream

    def stream(lm, prompt, cfg, **kw):
        if lm.spec.name == "tiny-sft":
            yield next(real(lm, prompt, cfg, **kw))
            raise TypeError("a bug in our own code")
        yield from real(lm, prompt, cfg, **kw)
    monkeypatch.setattr(batching, "stream", stream)
    final = run(tiny_family)[-1]
    sft = col(final, "sft")
    assert "Something went wrong" in sft.error and "TypeError" in sft.error, sft.error
    assert all(c.done and not c.error for c in final if c.slot != "sft"), \
        "a fault in one column must not stop the others"
    assert any(r.exc_info for r in caplog.records), "the fault's traceback must reach the log"


def test_a_stopped_run_is_not_scored_and_keeps_its_stopped_note(tiny_family):
    import dataclasses
    cols = [dataclasses.replace(c, done=c.slot != "dpo") for c in run(tiny_family)[-1]]   # Stop before DPO ended
    out = compare_tab.score(compare.Run(tiny_family, PROMPT, cols=cols), False)
    assert out == {"table": None}, f"scoring after Stop must leave the 'Stopped' note alone: {out}"


def test_a_length_normalised_family_scales_mean_log_probs_by_its_published_beta(tiny_family, monkeypatch):
    monkeypatch.setitem(compare.PUBLISHED_BETA, tiny_family, (5.0, "test source", True))
    cols = run(tiny_family, temperature=0)[-1]
    s = compare.score_columns(tiny_family, PROMPT, cols)
    for col in cols:  # per-token means of the answer as a finished turn (its end-of-turn token included)
        turn = {}
        for st in ("sft", "dpo"):
            lm = models.load(f"tiny-{st}")
            p = models.build_prompt(lm.spec, lm.tokenizer, [{"role": "user", "content": PROMPT}])
            turn[st] = engine.score(lm, p, col.text, append_eos=True).mean
        assert math.isclose(s.dpo_reward[col.slot], 5.0 * (turn["dpo"] - turn["sft"])), (col.slot, s.dpo_reward)
    assert compare.family_beta("olmo2-1b")[0] == 5.0 and "length-normalised" in compare.family_beta("olmo2-1b")[1]


def test_instruct_columns_are_labelled_by_what_each_family_publishes():
    titles = {f: compare.plan_columns(f)[1].title for f in ("smollm2-135m", "qwen2.5-0.5b")}
    assert "SFT + DPO" in titles["smollm2-135m"] and "GRPO" in titles["qwen2.5-0.5b"], titles


def test_the_pretraining_cost_note_is_computed_with_the_planner():
    from llm_demo import compare_explainer
    # By hand: 6 · 70e9 · 2e12 = 8.4e23 FLOPs; an H100 at 989 TFLOP/s peak and 40% MFU does 3.956e14 FLOP/s, so
    # 2.1234e9 s = 589,821 GPU-hours, × $2.50 = $1.47M; 1e26 FLOPs on the same terms = 70.2M hours = $176M.
    note = compare_explainer.pretraining_cost_note()
    for part in ("8.4e23 FLOPs", "589,821 H100-hours", "$1.5M", "$176M"):
        assert part in note, f"{part!r} missing from the cost note: {note}"


def test_one_compare_request_checks_its_sampling_settings_once_for_every_column(tiny_family, monkeypatch):
    checks = []
    real = SamplingConfig.__post_init__
    monkeypatch.setattr(SamplingConfig, "__post_init__", lambda self: (checks.append(self), real(self))[1])
    outs = list(compare_tab.run_compare(tiny_family, PROMPT, "", 0.7, 50, 1.0, 1.0, 8, 0))
    assert all(outs[-1][f"{slot}_answer"] is not None for slot in compare.SLOTS), outs[-1]
    assert len(checks) == 1, f"one request, one check at its boundary; checked {len(checks)} times"


def test_stop_marks_the_run_stopped_its_columns_say_so_and_votes_are_refused(tiny_family):
    """Issue 27 item 11: a stopped column stayed "generating…", the scores line kept waiting and Record vote wrote
    the partial answer into the JSONL as "chosen"."""
    g = compare_tab.run_compare(tiny_family, PROMPT, "", 1.0, 0, 1.0, 1.0, 200, 0)
    run = [next(g) for _ in range(3)][-1]["run"]
    g.close()                                                    # what Stop's cancel does to the generator
    for c in run.cols:                                           # even if a column had finished meanwhile
        c.done = c.done or c.slot != "base"
    out = compare_tab.stop_run(run)
    assert "generating" not in out["base_head"] and "Stop" in out["base_head"], out["base_head"]
    assert out["busy"] is False and out["table"] is None and "not scored" in out["score_note"], out
    assert compare_tab.score(run, False)["score_note"] == compare_views.STOPPED, "the scores line must not keep waiting"
    with pytest.raises(Exception, match="stopped"):
        compare_tab.vote(run, False, "dpo", "sft", [])


def test_vote_radios_offer_only_the_columns_that_answer(tiny_family, monkeypatch):
    """Also noticed in issue 27: with SmolLM2 (no DPO stage) the radios offered columns that never answered."""
    real = compare.plan_columns
    monkeypatch.setattr(compare, "plan_columns",
                        lambda f: [dataclasses.replace(c, error="no such stage", done=True) if c.slot == "dpo" else c
                                   for c in real(f)])
    first = next(compare_tab.run_compare(tiny_family, PROMPT, "", 0.7, 50, 1.0, 1.0, 4, 0))
    answering = [s for s in compare.SLOTS if s != "dpo"]          # every stage of the family but the greyed one
    assert first["better"]["choices"] == first["worse"]["choices"] == answering or \
        [c[0] if isinstance(c, tuple) else c for c in first["better"]["choices"]] == answering, first["better"]
    assert first["better"]["value"] != first["worse"]["value"], "the two radios must start on different columns"
