"""The Compare tab's rules without Gradio or models (llm_demo/compare_views.py): what each column's heading says,
which columns the vote radios offer, what Stop marks, when a run is scored and what the scores line says, and what
a vote may record. Columns are built by hand; tests/test_compare.py runs the same rules on real tiny models."""
import dataclasses

import pytest

from llm_demo import compare, compare_views


def cols(**states) -> list[compare.Column]:
    """One column per slot given: "done", "running" (some text), "waiting" (none yet) or an error sentence."""
    out = []
    for slot, state in states.items():
        c = compare.Column(slot, f"m-{slot}", compare.SLOT_TITLES[slot], prompt=f"<{slot}>", prompt_tokens=3)
        if state == "done":
            c.text, c.done, c.finish_reason, c.n_tokens = f"answer {slot}", True, "end of turn", 2
        elif state == "running":
            c.text, c.n_tokens = "part", 1
        elif state != "waiting":
            c.error, c.done = state, True
        out.append(c)
    return out


def finished_run(**kw) -> compare.Run:
    return compare.Run("tinyfam", "Hello", cols=cols(base="done", sft="done", rlhf="done", dpo="done"), **kw)


def test_column_views_name_every_part_of_every_column_and_say_its_state():
    views = compare_views.column_views(cols(base="done", sft="running", rlhf="waiting", dpo="no such stage"))
    assert set(views) == {f"{s}_{p}" for s in compare.SLOTS for p in compare_views.VIEW_PARTS}, sorted(views)
    assert "stopped by: end of turn" in views["base_head"] and "`m-base`" in views["base_head"], views["base_head"]
    assert views["sft_head"].endswith("generating…") and views["rlhf_head"].endswith("waiting…")
    assert "⛔" in views["dpo_head"] and "no such stage" in views["dpo_head"] and "m-dpo" not in views["dpo_head"]
    assert views["base_answer"] == "answer base" and views["base_saw"] == "<base>"
    assert views["base_saw_n"] == "3 prompt tokens", views["base_saw_n"]
    assert compare_views.column_views([compare.Column("sft", "m")])["sft_saw_n"] == "", "no prompt, no count"
    stopped = compare_views.column_views(cols(base="done", sft="running"), stopped=True)
    assert stopped["sft_head"].endswith("stopped by: Stop (unfinished)"), stopped["sft_head"]
    assert stopped["base_head"].endswith("stopped by: end of turn"), "a column that finished keeps its reason"


@pytest.mark.parametrize("states, expected", [
    (dict(base="done", sft="done", rlhf="done", dpo="done"), (["base", "sft", "rlhf", "dpo"], "dpo", "sft")),
    (dict(base="done", sft="done", rlhf="x", dpo="x"), (["base", "sft"], "sft", "base")),       # SmolLM2-like
    (dict(base="x", sft="done", rlhf="done", dpo="x"), (["sft", "rlhf"], "rlhf", "sft")),
    (dict(sft="done", dpo="done", **{"dpo-class": "done"}), (["sft", "dpo", "dpo-class"], "dpo", "sft")),
    (dict(base="x", sft="done"), (["sft"], "sft", None)),
    (dict(base="x"), ([], None, None)),
])
def test_the_vote_radios_offer_the_answering_columns_and_start_on_two_different_ones(states, expected):
    assert compare_views.vote_choices(cols(**states)) == expected


def test_stop_marks_an_unfinished_run_and_leaves_a_finished_one_alone():
    assert compare_views.stop(None) == {"busy": False}
    done = finished_run()
    assert compare_views.stop(done) == {"busy": False} and not done.stopped, "a finished run keeps its scores"
    run = compare.Run("tinyfam", "Hello", cols=cols(base="done", sft="running"))
    out = compare_views.stop(run)
    assert run.stopped and not run.finished, "Stop must mark the run, so votes and scores refuse it"
    assert out["busy"] is False and out["table"] is None and out["score_note"] == compare_views.STOPPED, out
    assert "Stop (unfinished)" in out["sft_head"], out["sft_head"]


def test_a_run_is_scored_only_once_it_has_finished_and_was_not_stopped():
    assert compare_views.unscored(None, False) == {"table": None, "score_note": compare_views.WAITING}
    assert compare_views.unscored(finished_run(), True)["score_note"] == compare_views.WAITING, "busy: wait"
    assert compare_views.unscored(finished_run(stopped=True), False) == {"table": None,
                                                                         "score_note": compare_views.STOPPED}
    unfinished = compare.Run("tinyfam", "Hello", cols=cols(base="done", sft="running"))
    assert compare_views.unscored(unfinished, False) == {"table": None}, "an unfinished run keeps its note"
    assert compare_views.unscored(finished_run(), False) is None


def scores(**kw) -> compare.Scores:
    per = {"base": -2.0, "sft": -1.5, "rlhf": -1.25, "dpo": -1.0}
    return compare.Scores(**{"mean_logprob": {"sft": dict(per), "dpo": dict(per)}, "dpo_reward": {"sft": 0.5, "dpo": -0.25},
                             "rm_score": {"dpo": 1.23456}, "rm_note": "RM note.", "beta": 0.1, "beta_source": "src", **kw})


def test_the_score_views_give_rows_under_the_headers_and_a_note_on_beta_and_the_reward_model():
    out = compare_views.score_views(scores())
    assert set(out) == {"table", "score_note", *(f"{s}_rm" for s in compare.SLOTS)}, sorted(out)
    assert [r[0] for r in out["table"]] == ["SFT", "DPO"] and all(len(r) == len(compare.SCORE_HEADERS)
                                                                  for r in out["table"]), out["table"]
    assert out["table"][0][compare.SCORE_HEADERS.index("under RLHF")] == -1.25
    assert out["table"][1][compare.SCORE_HEADERS.index("DPO reward")] == -0.25
    assert out["table"][1][compare.SCORE_HEADERS.index("reward model")] == 1.235
    assert out["table"][0][compare.SCORE_HEADERS.index("reward model")] is None, "no RM score, no number"
    assert out["score_note"] == "β = 0.1 (src). RM note.", out["score_note"]
    assert out["dpo_rm"] == "**Reward model:** 1.235" and out["sft_rm"] == "", (out["dpo_rm"], out["sft_rm"])
    normalised = compare_views.score_views(scores(length_normalised=True, sft_weight=1.0))["score_note"]
    assert "per-token mean log-probs" in normalised and "SFT term (weight 1)" in normalised, normalised
    no_dpo = compare_views.score_views(scores(dpo_reward={}, sft_weight=1.0))["score_note"]
    assert no_dpo.startswith("No DPO reward") and "SFT term" not in no_dpo and "β" not in no_dpo, no_dpo
    assert compare_views.score_views(compare.Scores()) == {"table": None, "score_note": "No answers to score."}


def test_a_vote_records_the_runs_own_pair_and_is_refused_while_busy_or_stopped():
    run = finished_run()
    out = compare_views.record_vote(run, False, "dpo", "base", [{"prompt": "old", "chosen": "a", "rejected": "b"}])
    assert out["votes"][-1] == {"prompt": "Hello", "chosen": "answer dpo", "rejected": "answer base"}, out
    assert len(out["votes"]) == 2 and out["vote_note"] == "2 votes this session.", out
    assert compare_views.record_vote(run, False, "sft", "base", None)["vote_note"] == "1 vote this session."
    for args, refusal in [((run, True, "dpo", "sft"), "unfinished"), ((None, True, "dpo", "sft"), "unfinished"),
                          ((None, False, "dpo", "sft"), "Run a prompt first"),
                          ((finished_run(stopped=True), False, "dpo", "sft"), "stopped"),
                          ((run, False, "dpo", "dpo"), "different")]:
        with pytest.raises(ValueError, match=refusal):
            compare_views.record_vote(*args, [])


def test_stream_views_yield_named_views_busy_until_the_last_and_the_radios_once(monkeypatch):
    steps = [cols(base="waiting", sft="waiting", dpo="x"), cols(base="running", sft="running", dpo="x"),
             cols(base="done", sft="done", dpo="x")]
    seen = []

    def stream_columns(family, prompt, cfg, system=""):
        seen.append((family, prompt, system))
        for step in steps:
            yield [dataclasses.replace(c) for c in step]
    monkeypatch.setattr(compare, "stream_columns", stream_columns)
    cfg = compare.DEFAULT_SETTINGS
    outs = list(compare_views.stream_views("tinyfam", "Hello", cfg, "Be brief."))
    assert seen == [("tinyfam", "Hello", "Be brief.")]
    assert [o["busy"] for o in outs] == [True, True, True, False], [o["busy"] for o in outs]
    assert outs[0]["vote_choices"] == (["base", "sft"], "sft", "base") and \
        not any("vote_choices" in o for o in outs[1:]), "the radios are set once, on the first update"
    run = outs[-1]["run"]
    assert all(o["run"] is run for o in outs) and run.finished, "one Run, updated in place"
    assert (run.prompt, run.system, run.settings) == ("Hello", "Be brief.", dataclasses.asdict(cfg))
    assert outs[-1]["base_head"].endswith("stopped by: end of turn") and outs[1]["base_head"].endswith("generating…")


def test_the_loading_note_names_the_first_column_not_loaded_yet(monkeypatch):
    planned = cols(base="no such stage", sft="waiting", rlhf="waiting")
    monkeypatch.setattr(compare, "plan_columns", lambda family: planned)
    loaded = {"m-sft"}
    monkeypatch.setattr(compare_views.turns, "needs_loading", lambda name: name not in loaded)
    monkeypatch.setattr(compare_views.turns, "loading_note", lambda name: f"Loading {name}")
    assert compare_views.loading_note("tinyfam") == "Loading m-rlhf", "the greyed base and the loaded SFT say nothing"
    loaded.add("m-rlhf")
    assert compare_views.loading_note("tinyfam") == ""


def test_has_prompt_refuses_what_an_api_caller_or_an_empty_box_sends():
    assert compare.has_prompt("Hi") and not any(compare.has_prompt(p) for p in ("", "  \n", None, 3, ["Hi"]))
