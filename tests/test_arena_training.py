"""`python -m llm_demo.training dpo --from-class-db`: a DPO round on the class's votes from the shipped SFT stage,
evaluated, saved outside the repository and listed by the registry only once it exists."""
import json

import pytest

from llm_demo import compare, config, models
from llm_demo.arena_store import ArenaStore
from llm_demo.training.__main__ import main

POLITE = {"What is your name?": "Hello! My name is Tiny. I am happy to help you.",
          "How much is 9 plus 5?": "Happy to help: 9 plus 5 is 14.",
          "Where does Hugo live?": "Thank you for asking! Hugo lives in Maple Village."}


def class_db(path, n_votes=True):
    store = ArenaStore(path)
    for i, (prompt, good) in enumerate(POLITE.items()):
        cols = {"base": {"model": "tinygpt-base", "text": f"{prompt} and then the"},
                "sft": {"model": "tinygpt-sft", "text": "No. Go away."},
                "dpo": {"model": "tinygpt-dpo", "text": good}}
        run = store.start_run(f"page-{i}", "tinygpt", prompt, "", {}, ["sft", "dpo", "base"], cols)
        store.finish_run(run, cols)
        if n_votes:
            store.record_vote(run, f"page-{i}", "B", "C")          # dpo best, base worst: three pairs a vote
    return path


@pytest.mark.skipif(not models.availability("tinygpt-sft")[0], reason="the TinyGPT trio is not built")
def test_a_class_round_trains_evaluates_and_appears_in_the_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CLASS_DATA_DIR", tmp_path / "class")
    assert models.class_stage_spec() is None and models.CLASS_STAGE not in models.registry()
    assert "not trained yet" in compare.plan_columns("tinygpt-class")[2].error
    db = class_db(tmp_path / "class.sqlite3")
    assert main(["dpo", "--preset", "micro", "--from-class-db", str(db), "--threads", "1"]) == 0
    stage = tmp_path / "class" / "dpo-class"
    summary = json.loads((stage / "summary.json").read_text())
    assert "9 preference pairs from the class's votes" in summary["data"] and "9 shipped" in summary["data"], summary
    metrics = json.loads((stage / "eval.json").read_text())
    assert {"format_compliance", "task_accuracy", "preferred_rate", "dpo_reward_accuracy"} <= set(metrics), metrics
    assert "dpo_reward_accuracy" in (stage / "README.md").read_text(), "the model card carries the evaluation"
    assert models.get_spec(models.CLASS_STAGE).location == str(stage)
    assert models.CLASS_STAGE in models.registry()
    cols = compare.plan_columns("tinygpt-class")
    assert [c.model for c in cols] == ["tinygpt-sft", "tinygpt-dpo", models.CLASS_STAGE] and not cols[2].error


def test_class_round_bad_input_gets_one_sentence(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        main(["dpo", "--from-class-db", str(tmp_path / "missing.sqlite3"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no preference pairs yet"):
        main(["dpo", "--from-class-db", str(class_db(tmp_path / "novotes.sqlite3", False)), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="only applies to the dpo stage"):
        main(["sft", "--from-class-db", str(tmp_path / "x"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="class-mix"):
        main(["dpo", "--from-class-db", str(tmp_path / "x"), "--class-mix", "-1", "--out", str(tmp_path)])
    text = tmp_path / "notes.sqlite3"
    text.write_text("not a database " * 50)
    with pytest.raises(SystemExit, match="cannot be opened"):
        main(["dpo", "--from-class-db", str(text), "--out", str(tmp_path)])
