"""Remote engines: an OpenAI-compatible server (vLLM, llama.cpp's server, TGI, Ollama) answers for the lab.

`LLM_DEMO_OPENAI_BASE_URL=http://10.0.0.5:8000/v1 python app.py` adds every model the server lists at /v1/models
to the registry as `remote:<id>`. Chat stages stream from /v1/chat/completions (the server applies its own chat
template), base stages from /v1/completions; the visitor's settings go as the API's parameters, and the sampler
view shows the server's top_logprobs when it sends them. Every failure ends in one sentence; text already shown
is kept.
"""
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import httpx

from llm_demo import config
from llm_demo.backend import Piece
from llm_demo.sampling import SamplingConfig, StageView, StepInfo
from llm_demo import count

LIST_TTL_S = 15          # how long a /models listing is trusted before asking again
MAX_TOP_LOGPROBS = 20    # OpenAI's limit for top_logprobs (vLLM and llama.cpp's server accept it too)
INTERRUPTED = ("The server ended this answer early without giving a reason: llama.cpp's server does this when a "
               "newer request interrupts a running one (start it with --interrupt_requests False so requests "
               "wait their turn). The partial answer is kept.")
STAGE_NOTE = ("the server's top_logprobs (at most 20 tokens; the server does not say whether they are before "
              "or after its own temperature, top-k and top-p)")
STAGE_SUFFIX = re.compile(r"[-_.:/](base|sft|dpo|instruct|chat|it)$", re.IGNORECASE)

_listing: dict = {"at": -math.inf, "ids": [], "why": ""}
_listing_lock = threading.Lock()


def _headers() -> dict:
    return {"Authorization": f"Bearer {config.OPENAI_API_KEY}"} if config.OPENAI_API_KEY else {}


def server_models(max_age_s: float = LIST_TTL_S) -> tuple[list[str], str]:
    """(model ids the server lists, "" or one sentence saying why none could be listed); cached max_age_s."""
    if not config.OPENAI_BASE_URL:
        return [], ""
    with _listing_lock:
        if time.monotonic() - _listing["at"] < max_age_s:
            return list(_listing["ids"]), _listing["why"]
        url, ids, why = config.OPENAI_BASE_URL, [], ""
        try:
            r = httpx.get(f"{url}/models", headers=_headers(), timeout=config.HUB_TIMEOUT_S)
            r.raise_for_status()
            ids = [str(m["id"]) for m in r.json()["data"]]
        except httpx.HTTPStatusError as exc:
            why = f"The model server at {url} answered {exc.response.status_code} when asked for its models."
        except httpx.HTTPError as exc:
            why = f"The model server at {url} did not answer ({type(exc).__name__}) within {config.HUB_TIMEOUT_S} s."
        except (ValueError, KeyError, TypeError):
            why = f"The model server at {url} sent a model list that is not OpenAI's /v1/models format."
        _listing.update(at=time.monotonic(), ids=ids, why=why)
        return ids, why


def stage_of(model_id: str) -> str:
    """A served model's stage from its name: ...-dpo, ...-rlhf, ...-sft, ...-base; anything else is taken as a chat
    model."""
    low = model_id.lower()
    return next((st for st in ("dpo", "rlhf", "sft", "base") if re.search(rf"(^|[-_.:/]){st}([-_.:/]|$)", low)), "instruct")


@dataclass(eq=False)
class RemoteModel:
    """A model served by the remote server, behind the backend.Backend protocol: no weights here, no tokenizer, no
    logits beyond top_logprobs. It takes chat messages (the server applies its own template and context limit)."""
    spec: object
    backend = "remote"
    device = "remote"
    tokenizer = None
    n_bytes = 0
    load_seconds = 0.0
    takes_messages = True
    eos_ids = frozenset()

    def _refuse(self, what: str):
        raise ValueError(f"{self.spec.label} runs on a remote server, which does not share {what}: use a local model.")

    @property
    def context_length(self) -> int:
        self._refuse("its context length")

    @property
    def vocab_size(self) -> int:
        self._refuse("its vocabulary")

    def logits(self, ids, n_out):
        self._refuse("its logits")

    def decode(self, dec):
        self._refuse("its token ids (it cannot continue from a token you chose)")

    def batcher(self):
        return None                          # the server batches its own requests

    @property
    def batch_key(self) -> object:
        return self

    def shown_prompt(self, messages: list[dict], system: str, cfg: SamplingConfig) -> str:
        """What the server receives, for the "prompt the model saw" view: the messages of the request."""
        return json.dumps(request_body(self, messages, system, cfg, 0).get("messages", messages[-1]["content"]))

    def stream_messages(self, messages: list[dict], system: str, cfg: SamplingConfig,
                        inspect: int = 0) -> Iterator[Piece]:
        return stream(self, messages, system, cfg, inspect)


def request_body(lm: RemoteModel, messages: list[dict], system: str, cfg: SamplingConfig, inspect: int) -> dict:
    """The visitor's settings as the API's parameters (top_k, min_p and the penalties are the extensions vLLM and
    llama.cpp's server read; min_p=0 because llama.cpp's server would otherwise add a 0.05 filter we don't show)."""
    body = dict(model=lm.spec.location, stream=True, max_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                top_p=cfg.top_p, seed=cfg.seed, min_p=0.0, top_k=int(cfg.top_k) if cfg.top_k else -1)
    if cfg.repetition_penalty != 1.0:
        body.update(repetition_penalty=cfg.repetition_penalty, repeat_penalty=cfg.repetition_penalty)
    if cfg.stop:
        body["stop"] = list(cfg.stop)
    n_top = min(inspect, MAX_TOP_LOGPROBS)
    if lm.spec.chat:
        body["messages"] = ([{"role": "system", "content": system}] if system.strip() else []) + list(messages)
        if n_top:
            body.update(logprobs=True, top_logprobs=n_top)
    else:
        body["prompt"] = str(messages[-1]["content"])     # a base model continues the text, as locally
        if n_top:
            body["logprobs"] = n_top
    return body


def _steps(choice: dict) -> list[tuple[str, StepInfo]]:
    """(token text, the server's view of that step) for each token a chunk carries, in chat or completions form."""
    lp = choice.get("logprobs") or {}
    out = []
    if isinstance(lp.get("content"), list):                                  # chat: [{token, logprob, top_logprobs}]
        for e in lp["content"]:
            top = {t["token"]: t["logprob"] for t in e.get("top_logprobs") or []}
            out.append((e["token"], _step(e["token"], e["logprob"], top)))
    elif isinstance(lp.get("tokens"), list):                                 # completions: parallel lists
        tops = lp.get("top_logprobs") or [{}] * len(lp["tokens"])
        for tok, logprob, top in zip(lp["tokens"], lp.get("token_logprobs") or [], tops):
            out.append((tok, _step(tok, logprob, dict(top or {}))))
    return out


def _step(token: str, logprob: float, top: dict) -> StepInfo:
    top.setdefault(token, logprob)
    cands = sorted(top, key=top.get, reverse=True)
    probs = [math.exp(top[c]) for c in cands]
    info = StepInfo(-1, math.exp(logprob), cands, [StageView(STAGE_NOTE, probs, len(cands))])
    info.token = token
    return info


def stream(lm: RemoteModel, messages: list[dict], system: str, cfg: SamplingConfig,
           inspect: int = 0) -> Iterator[Piece]:
    """Yield Pieces as the server streams them; a failure raises ValueError with one sentence (pieces already
    yielded stay with the caller). Closing the generator closes the connection, which cancels the request."""
    ids, why = server_models(max_age_s=5)     # a model dropped from the server is noticed within seconds
    if why:
        raise ValueError(why)
    if lm.spec.location not in ids:
        raise ValueError(f"{lm.spec.location} is no longer listed by the model server at {config.OPENAI_BASE_URL} "
                         f"(it lists {', '.join(ids[:8]) or 'nothing'}): pick another model.")
    url = config.OPENAI_BASE_URL + ("/chat/completions" if lm.spec.chat else "/completions")
    timeout = httpx.Timeout(config.GENERATION_TIMEOUT_S, connect=config.HUB_TIMEOUT_S)
    deadline, n, finish = time.monotonic() + config.GENERATION_TIMEOUT_S, 0, ""
    body = request_body(lm, messages, system, cfg, inspect)
    try:
        with httpx.stream("POST", url, json=body, headers=_headers(), timeout=timeout) as r:
            if r.status_code >= 400:
                raise ValueError(f"The model server refused the request ({r.status_code}: {_error_text(r)}).")
            for line in r.iter_lines():
                if time.monotonic() > deadline:
                    yield Piece("", done=True, finish_reason=f"time limit ({config.GENERATION_TIMEOUT_S} s)",
                                n_tokens=n)
                    return
                if not line.startswith("data:"):
                    continue                                     # blank lines, SSE comments and pings
                data = line[5:].strip()
                if data == "[DONE]":
                    if not finish:
                        raise ValueError(INTERRUPTED)
                    yield Piece("", done=True, finish_reason=finish, n_tokens=n)
                    return
                for piece in _pieces(data, n, lm.spec.chat):
                    n = piece.n_tokens
                    finish = piece.finish_reason or finish
                    piece.finish_reason = ""
                    yield piece
    except httpx.TimeoutException as exc:
        raise ValueError(f"The model server did not answer in time ({type(exc).__name__}) after {count(n, 'token')}; "
                         "the partial answer is kept.") from None
    except httpx.HTTPError as exc:
        if finish:
            yield Piece("", done=True, finish_reason=finish, n_tokens=n)
            return
        raise ValueError(f"The connection to the model server broke off after {count(n, 'token')} ({type(exc).__name__}); "
                         "the partial answer is kept.") from None
    if not finish:
        raise ValueError(f"The model server's stream stopped after {count(n, 'token')} without an end marker; the partial "
                         "answer is kept.")
    yield Piece("", done=True, finish_reason=finish, n_tokens=n)


def _pieces(data: str, n: int, chat: bool) -> list[Piece]:
    try:
        chunk = json.loads(data)
        if "error" in chunk:
            err = chunk["error"]
            raise ValueError(f"The model server stopped with an error: {str(err.get('message', err))[:200]}"
                             if isinstance(err, dict) else f"The model server stopped with an error: {str(err)[:200]}")
        choice = (chunk.get("choices") or [{}])[0]
        text = (choice.get("delta") or {}).get("content") or "" if chat else choice.get("text") or ""
        steps = _steps(choice)
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        raise ValueError(f"The model server sent a malformed stream after {count(n, 'token')} ({data[:60]!r}); the partial "
                         "answer is kept.") from None
    reason = {"stop": "end of turn", "length": "max new tokens"}.get(choice.get("finish_reason") or "",
                                                                      choice.get("finish_reason") or "")
    if not steps:
        return [Piece(text, done=False, finish_reason=reason, n_tokens=n + bool(text))] if text or reason else []
    joined = "".join(tok for tok, _ in steps) == text
    return [Piece(tok if joined else (text if i == 0 else ""), step=info, finish_reason=reason if i == len(steps) - 1
                  else "", n_tokens=n + i + 1) for i, (tok, info) in enumerate(steps)]


def _error_text(r: httpx.Response) -> str:
    raw = r.read()[:2000].decode("utf-8", "replace")
    try:
        err = json.loads(raw).get("error", raw)
        return str(err.get("message", err) if isinstance(err, dict) else err)[:200]
    except (ValueError, AttributeError):
        return raw[:200] or r.reason_phrase
