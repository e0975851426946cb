"""Remote engines against a real OpenAI-compatible server: `python -m llama_cpp.server` on the shipped GGUF, started
on loopback by the tests (bounded waits; stopped at the end), plus a tiny fake server for the faults a real one
will not produce on demand (slow, malformed). Every failure must be one sentence, partial text kept."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from llm_demo.bench.launch import AppDidNotStart, free_port, start, stop_app
from llm_demo import chat, compare, config, llamacpp, models, remote
from llm_demo.sampling import SamplingConfig

GGUF = models.gguf_path(models.get_spec(models.DEFAULT_CHAT_MODEL))
pytestmark = pytest.mark.skipif(GGUF is None or not llamacpp.importable()[0],
                                reason="needs the SmolLM2 GGUF and llama_cpp (with its [server] extras)")
SECRET = "sk-test-secret-4242"
HI = [{"role": "user", "content": "What is the capital of France?"}]
LONG = [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]


def start_server(tmp_path, name: str, ctx: int = 1024):
    """llama_cpp.server with the GGUF under two aliases (a base and an instruct stage of one family)."""
    port = free_port()
    models_cfg = [{"model": str(GGUF), "model_alias": alias, "n_ctx": ctx, "n_threads": 1, "verbose": False}
                  for alias in ("smollm2-instruct", "smollm2-base")]
    cfg = tmp_path / f"{name}.json"
    cfg.write_text(json.dumps({"host": "127.0.0.1", "port": port, "api_key": SECRET, "models": models_cfg}))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        proc = start([sys.executable, "-m", "llm_demo.bench.llama_server", "--config_file", str(cfg)], tmp_path / f"{name}.log",
                     f"{url}/models", headers={"Authorization": f"Bearer {SECRET}"}, timeout_s=120)
    except AppDidNotStart as exc:
        pytest.fail(f"llama_cpp.server did not start: {exc}")
    return proc, url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start_server(tmp_path_factory.mktemp("srv"), "main")
    yield url
    stop_app(proc)


def use(monkeypatch, url: str, key: str = SECRET):
    monkeypatch.setattr(config, "OPENAI_BASE_URL", url)
    monkeypatch.setattr(config, "OPENAI_API_KEY", key)
    monkeypatch.setattr(config, "HUB_TIMEOUT_S", 60)     # llama_cpp.server answers /v1/models only between requests
    monkeypatch.setitem(remote._listing, "at", -1e9)


def test_served_models_join_the_registry_as_a_family(server, monkeypatch):
    use(monkeypatch, server)
    names = [n for n, *_ in models.choices()]
    assert {"remote:smollm2-instruct", "remote:smollm2-base"} <= set(names), names
    assert models.family_stages("remote:smollm2") == {"base": "remote:smollm2-base", "instruct": "remote:smollm2-instruct"}
    assert "remote:smollm2" in models.families()
    assert not models.get_spec("remote:smollm2-base").chat and models.get_spec("remote:smollm2-instruct").chat


def test_chat_streams_with_the_visitors_settings_and_the_servers_top_logprobs(server, monkeypatch):
    use(monkeypatch, server)
    cfg = SamplingConfig(temperature=0, max_new_tokens=8)
    replies = [r.text for r in chat.stream_reply("remote:smollm2-instruct", HI, "", cfg, inspect=5)]
    reply = chat.Reply()
    for reply in chat.stream_reply("remote:smollm2-instruct", HI, "", cfg, inspect=5):
        pass
    assert reply.text and reply.text == replies[-1], "temperature 0 must give the same answer twice"
    assert reply.n_tokens <= 8 and reply.finish_reason in ("max new tokens", "end of turn"), reply.stats()
    assert reply.steps and all(0 < s["prob"] <= 1 and len(s["candidates"]) <= 6 for s in reply.steps), reply.steps[:1]
    assert "top_logprobs" in reply.steps[0]["stages"][0]["name"], "the view must say where its numbers come from"
    short = list(chat.stream_reply("remote:smollm2-instruct", LONG, "", SamplingConfig(max_new_tokens=3), inspect=0))
    assert short[-1].finish_reason == "max new tokens" and short[-1].n_tokens == 3, short[-1].stats()


def test_sweep_and_compare_columns_stream_from_the_server(server, monkeypatch):
    use(monkeypatch, server)
    cols = None
    for cols in chat.temperature_sweep("remote:smollm2-instruct", "Say hi.", [0, 1.0], SamplingConfig(max_new_tokens=6)):
        pass
    assert all(text for _, text in cols), cols
    for cols in compare.stream_columns("remote:smollm2", "The capital of France is", SamplingConfig(max_new_tokens=6)):
        pass
    by = {c.slot: c for c in cols}
    assert by["base"].text and by["sft"].text and not by["base"].error and not by["sft"].error, cols
    assert by["dpo"].error, "a family without a DPO stage must grey that column"


def test_a_newer_request_interrupting_a_stream_is_reported_in_one_sentence(server, monkeypatch):
    use(monkeypatch, server)
    lm = models.load("remote:smollm2-instruct")
    first = remote.stream(lm, LONG, "", SamplingConfig(max_new_tokens=300))
    text = "".join(next(first).text for _ in range(3))
    later = list(remote.stream(lm, HI, "", SamplingConfig(max_new_tokens=4)))   # llama_cpp.server interrupts `first`
    assert later[-1].done, later
    with pytest.raises(ValueError, match="interrupts a running one") as err:
        for piece in first:
            text += piece.text
    assert text and "\n" not in str(err.value), (text, err.value)


def test_a_server_killed_mid_stream_keeps_the_partial_answer(tmp_path, monkeypatch):
    proc, url = start_server(tmp_path, "doomed")
    use(monkeypatch, url)
    try:
        gen = chat.stream_reply("remote:smollm2-instruct", LONG, "", SamplingConfig(max_new_tokens=300), inspect=0)
        text = ""
        for _ in range(4):
            text = next(gen).text
        proc.kill()
        with pytest.raises(ValueError, match="broke off|without an end marker|did not answer") as err:
            for reply in gen:
                text = reply.text
        assert text, "the partial answer was lost"
        assert SECRET not in str(err.value)
    finally:
        stop_app(proc)
    monkeypatch.setitem(remote._listing, "at", -1e9)
    with pytest.raises(ValueError, match="did not answer"):
        list(chat.stream_reply("remote:smollm2-instruct", HI, "", SamplingConfig(max_new_tokens=4)))


def test_error_status_wrong_key_and_a_vanished_model_are_one_sentence_each(server, monkeypatch):
    use(monkeypatch, server)
    lm = models.load("remote:smollm2-instruct")
    huge = [{"role": "user", "content": "tell me " * 1500}]                     # past the server's 1024 tokens
    with pytest.raises(ValueError, match="model server") as err:   # llama_cpp.server fails it after answering 200
        list(remote.stream(lm, huge, "", SamplingConfig(max_new_tokens=4)))
    assert SECRET not in str(err.value) and "\n" not in str(err.value), err.value
    use(monkeypatch, server, key="sk-wrong")
    with pytest.raises(ValueError, match="answered 401"):
        models.get_spec("remote:smollm2-base")
    use(monkeypatch, server)
    gone = remote.RemoteModel(models.ModelSpec("remote:gone", "remote:gone", "instruct", "remote", "gone", "gone"))
    with pytest.raises(ValueError, match="no longer listed"):
        list(remote.stream(gone, HI, "", SamplingConfig(max_new_tokens=4)))


class Fake(BaseHTTPRequestHandler):
    """Lists one model; answers completions per the class attribute mode: "slow" or "malformed"."""
    mode = "slow"
    seen_auth: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.seen_auth.append(self.headers.get("Authorization"))
        body = json.dumps({"object": "list", "data": [{"id": "fake-instruct", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "error":
            body = json.dumps({"error": {"message": "overloaded, try later", "code": 503}}).encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()
        if self.mode == "malformed":
            self.wfile.write(b"data: {\"choices\": [oops\n\n")
            self.wfile.flush()
        else:
            time.sleep(10)                                   # slower than the test's 4 s limit


@pytest.fixture
def fake(monkeypatch):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    use(monkeypatch, f"http://127.0.0.1:{srv.server_address[1]}/v1", key="sk-fake")
    yield Fake
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("mode,words", [("slow", "in time|time limit"), ("malformed", "malformed stream"),
                                        ("error", r"refused the request \(503: overloaded")])
def test_slow_and_malformed_streams_end_in_one_sentence_with_the_partial_text(fake, monkeypatch, mode, words):
    monkeypatch.setattr(fake, "mode", mode)
    if mode == "slow":          # the fake waits 10 s after its first chunk; a busy machine may take 1-2 s to send it
        monkeypatch.setattr(config, "GENERATION_TIMEOUT_S", 4)
    lm = models.load("remote:fake-instruct")
    text, t0 = "", time.monotonic()
    try:
        for piece in remote.stream(lm, HI, "", SamplingConfig(max_new_tokens=10)):
            text += piece.text
            if piece.done:
                assert "time limit" in piece.finish_reason and mode == "slow", piece
    except ValueError as exc:
        assert __import__("re").search(words, str(exc)), exc
    assert text == ("" if mode == "error" else "Hello") and time.monotonic() - t0 < 9, (text, time.monotonic() - t0)
    assert fake.seen_auth and all(a == "Bearer sk-fake" for a in fake.seen_auth), "the key goes in a header only"


@pytest.mark.parametrize("url,words", [
    ("ftp://example.org/v1", "http"), ("file:///etc/passwd", "http"), ("http://user:sk-1@10.0.0.5:8000/v1", "credential"),
    ("https://host.example/v1?api_key=sk-1", "credential"), ("not a url", "http")])
def test_server_urls_that_are_not_http_or_carry_a_key_are_refused_at_start(monkeypatch, url, words):
    monkeypatch.setenv("LLM_DEMO_OPENAI_BASE_URL", url)
    with pytest.raises(SystemExit, match=words) as err:
        config._env_server_url("LLM_DEMO_OPENAI_BASE_URL")
    assert "sk-1" not in str(err.value), "the refusal must not repeat the key"
