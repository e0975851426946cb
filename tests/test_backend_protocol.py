"""The Backend protocol (llm_demo/backend.py) is all the engine needs: the three backends implement every method,
and a backend the engine has never heard of (a fake that always favours one token) streams, batches and scores."""
import torch

from llm_demo import backend, batching, engine, llamacpp, models, remote
from llm_demo.sampling import SamplingConfig
from llm_demo.transformers_backend import LoadedModel

CALLS = sorted(n for n, v in vars(backend.Backend).items()
               if not n.startswith("_") and (callable(v) or isinstance(v, property)))


def test_every_backend_implements_every_call_of_the_protocol():
    assert {"context_length", "vocab_size", "eos_ids", "logits", "decode", "batcher", "batch_key"} <= set(CALLS), CALLS
    for cls in (LoadedModel, llamacpp.LlamaModel, remote.RemoteModel):
        missing = [n for n in CALLS if not hasattr(cls, n) and n != "eos_ids"]    # LlamaModel sets eos_ids itself
        assert not missing, f"{cls.__name__} lacks {missing} of backend.Backend"
    assert models.LoadedModel is LoadedModel, "models must hand out the transformers backend under its old name"


class Favourite:
    """A backend of nothing: every next-token row puts all its weight on one token. Batching is its own business
    (none), so batching.stream must fall back to decoding alone."""
    takes_messages = False
    device = "cpu"
    n_bytes, load_seconds = 0, 0.0

    def __init__(self, lm, token: int):
        self.spec, self.tokenizer, self.token, self.calls = lm.spec, lm.tokenizer, token, 0
        self.context_length, self.vocab_size, self.eos_ids = lm.context_length, lm.vocab_size, set()

    def _row(self):
        row = torch.full((self.vocab_size,), -30.0)
        row[self.token] = 30.0
        return row

    def logits(self, ids, n_out):
        return torch.stack([self._row()] * n_out)

    def decode(self, dec):
        while True:
            self.calls += 1
            piece = dec.advance(self._row())
            yield piece
            if piece.done:
                return

    def batcher(self):
        return None

    @property
    def batch_key(self):
        return self


def test_an_unknown_backend_streams_batches_and_scores_through_the_protocol(tiny_lm):
    token = tiny_lm.tokenizer("cat", add_special_tokens=False)["input_ids"][0]
    fake = Favourite(tiny_lm, token)
    prompt = models.build_prompt(fake.spec, fake.tokenizer, [{"role": "user", "content": "Hello"}])
    cfg = SamplingConfig(temperature=1.0, max_new_tokens=5, seed=3)
    pieces = list(engine.stream(fake, prompt, cfg))
    assert [p.token_id for p in pieces] == [token] * 5 and pieces[-1].finish_reason == "max new tokens", pieces
    assert fake.calls == 5, f"the engine must ask the backend for each step, asked {fake.calls} times"
    assert batching.generate(fake, prompt, cfg) == engine.generate(fake, prompt, cfg), "no batcher: decode alone"
    answer = tiny_lm.tokenizer.decode([token] * 3)
    s = engine.score(fake, prompt, answer)
    assert s.logprobs and all(lp > -1e-6 for lp in s.logprobs), f"the favourite token has log p ~ 0: {s.logprobs}"
