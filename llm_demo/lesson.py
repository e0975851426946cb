"""The lesson: the seed's sections in the seed's order, each claim next to what the lab measures about it.

Every number here is computed when the lesson is built, by the same core functions the tabs call (tokenizers,
the sampler, the scaling laws, the trio's own summaries): nothing is copied text. `sections()` is all there is.
"""
import json
from dataclasses import dataclass, field

import torch

from llm_demo import TINYGPT_DIR, compare_explainer, links, not_built, scaling
from llm_demo.sampling import SamplingConfig, next_token
from llm_demo.scaling_plots import KNOWN_MODELS, read_model_point
from llm_demo.token_facts import CONTEXT_WINDOWS, EXTRA_PRESETS, SEED_PRESETS, SEED_WORDS_PER_TOKEN
from llm_demo.tokenization import analyse

HOLDS, SIMPLIFIED, WRONG = "holds", "simplified", "wrong"
FOX = SEED_PRESETS["Quick brown fox"]
SEED_GPT4_WINDOW, SEED_GPT4_WORDS = 128_000, 96_000  # the seed: "GPT-4: 128K context window = ~96K words"
SEED_TOKENS_PER_PARAM = scaling.SEED_TOKENS_PER_PARAM
TOY_LOGITS = [2.0, 1.0, 0.0, -1.0]                   # four candidate tokens' scores, to show what T does
SEA_PROMPT = "Write one sentence about the sea."


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    claim: str               # the seed's claim in one line (our words)
    shows: list[str]         # what the lab measures about it, one markdown line each
    kind: str                # HOLDS, SIMPLIFIED or WRONG
    verdict: str             # why, when the seed is simplified or wrong
    tab: str                 # where "Show me" goes ...
    values: dict = field(default_factory=dict)  # ... and what it fills there (a tab's link keys)
    facts: dict = field(default_factory=dict)   # the section's key numbers, for the takeaways

    @property
    def link(self) -> str:
        return links.build(self.tab, self.values)


def _m(n: float) -> str:
    return f"{n / 1e6:.1f}M"


def large() -> Section:
    gpt2 = scaling.count_params(**scaling.GPT2_SMALL)
    tiny = read_model_point()
    biggest = max(KNOWN_MODELS, key=lambda m: m[2])
    tiny_line = (f"Our TinyGPT: **{_m(tiny.n_params)}** parameters, trained on **{tiny.tokens:,.0f}** tokens "
                 f"({tiny.note})." if tiny.n_params and tiny.tokens else f"Our TinyGPT: {tiny.note}.")
    return Section(
        "large", "1 · What makes an LLM “large”",
        "Transformers with billions of parameters, trained on huge text collections to predict the next token; "
        "reasoning and coding appear at scale.",
        [f"GPT-2 small, counted layer by layer: **{gpt2:,}** parameters.", tiny_line,
         f"The largest model in the Scaling tab's table: {biggest[0]} {biggest[1]}, {scaling.sci(biggest[2])} parameters "
         f"({biggest[4]})."],
        SIMPLIFIED, "“Large” is a moving line, and parameters alone do not make a model: the objective is the same "
                    "at every size (our TinyGPT learns it on a laptop CPU), and data has to grow with the model "
                    "(section 6).",
        "scaling", {"n": str(gpt2)})


def architecture() -> Section:
    tied = scaling.count_params(**scaling.GPT2_SMALL, tied_embeddings=True)
    untied = scaling.count_params(**scaling.GPT2_SMALL, tied_embeddings=False)
    return Section(
        "architecture", "2 · The decoder-only architecture",
        "GPT is a stack of decoder blocks with causal attention (each token sees only earlier ones); the seed's "
        "MiniGPT with GPT-2 small's sizes has ~124M parameters.",
        [f"GPT-2 small with the output head tied to the token embedding: **{tied:,}** (~{tied / 1e6:.0f}M).",
         f"The seed's MiniGPT gives the head its own weights: **{untied:,}** (~{untied / 1e6:.0f}M), "
         f"{untied - tied:,} more."],
        WRONG, f"The causal stack is right; the count is not: the MiniGPT as written has ~{untied / 1e6:.0f}M "
               "parameters. GPT-2's 124M comes from weight tying, which the MiniGPT leaves out.",
        "scaling", {"tied": False}, {"untied": untied})


def tokenization() -> Section:
    fox = analyse(FOX, "gpt2")
    prose = analyse(EXTRA_PRESETS["English paragraph"], "gpt2").stats
    hello = [t.text for t in analyse("Hello world", "gpt2").tokens]
    gpt4 = next(w for w in CONTEXT_WINDOWS if w.model.startswith("GPT-4 (launch"))
    return Section(
        "tokenization", "3 · BPE tokenization and context windows",
        f"BPE cuts text into subwords; 1 token ≈ {SEED_WORDS_PER_TOKEN} words; GPT-4's "
        f"{SEED_GPT4_WINDOW // 1000}K window holds ~{SEED_GPT4_WORDS // 1000}K words.",
        [f"The seed's fox sentence: **{fox.stats.tokens} GPT-2 tokens** for {fox.stats.words} words "
         f"({fox.stats.words_per_token:.2f} words per token).",
         f"'Hello world' is {len(hello)} tokens: {' | '.join(repr(h) for h in hello)} (the space belongs to the "
         "second).",
         f"Our English paragraph: {prose.words_per_token:.2f} words per token, so {SEED_GPT4_WINDOW // 1000}K tokens "
         f"hold ~{round(SEED_GPT4_WINDOW * prose.words_per_token / 1000)}K words of it."],
        SIMPLIFIED, f"The ratio depends on the text and the tokenizer (code and other languages get far fewer words "
                    f"per token), and 128K is GPT-4 Turbo's window: GPT-4 launched with {gpt4.tokens:,}.",
        "tokenizer", {"tokenizer": "gpt2", "text": FOX}, {"fox_wpt": fox.stats.words_per_token,
                                                        "prose_wpt": prose.words_per_token})


def pipeline_section() -> Section:
    summaries = {}
    for stage in ("base", "sft", "rlhf", "dpo"):
        path = TINYGPT_DIR / stage / "summary.json"
        summaries[stage] = json.loads(path.read_text()) if path.exists() else None
    ev = compare_explainer.load_eval()
    sampled = load_sampled_eval()
    shows = [f"Our {stage}: {s['data']}; {s['tokens_seen']:,} tokens seen." for stage, s in summaries.items() if s]
    if ev:
        st = ev["stages"]
        shows.append(f"Measured on held-out prompts, greedy (T = 0): answers in the chat format base "
                     f"{st['base']['format_compliance']:.0%} → SFT {st['sft']['format_compliance']:.0%}; the preferred "
                     f"(polite) answer SFT {st['sft']['preferred_rate']:.0%} → DPO {st['dpo']['preferred_rate']:.0%}."
                     + (f" {sampled_sentence(sampled)}" if sampled else ""))
    rl = compare_explainer.rlhf_numbers()
    if rl:
        shows.append(f"RLHF, live ({rl['algorithm']}; TRL 1.16 has no PPO): the reward model ranks "
                     f"{rl['rm_accuracy']:.0%} of held-out pairs right (DPO's implicit reward "
                     f"{rl['dpo_reward_accuracy']:.0%}); reward gain over SFT RLHF {rl['gain']['rlhf']:+.2f} at KL "
                     f"{rl['kl']['rlhf']:.2f} nats vs DPO {rl['gain']['dpo']:+.2f} at KL {rl['kl']['dpo']:.2f}; "
                     f"networks trained / in memory RLHF {rl['networks']['rlhf'][0]} / {rl['networks']['rlhf'][1]} "
                     f"(PPO: 4 in memory) vs DPO {rl['networks']['dpo'][0]} / {rl['networks']['dpo'][1]}; "
                     f"{rl['seconds']['rlhf']:.0f} s vs {rl['seconds']['dpo']:.0f} s of training on this lab's CPU.")
    return Section(
        "pipeline", "4 · Pretraining, SFT and RLHF / DPO",
        "Pretrain on raw text, fine-tune on instruction → answer pairs, then align with human preferences by RLHF "
        "(a reward model and PPO) or DPO (no reward model).",
        shows or [not_built("TinyGPT") + "."],
        SIMPLIFIED, "The order is right. RLHF and DPO teach what the preference data rewards (here: politeness), "
                    "not “human values” in general; we run both routes, with RLOO in place of PPO.",
        "compare", {"family": "tinygpt", "prompt": "What is your name?"},
        {"format": (st["base"]["format_compliance"], st["sft"]["format_compliance"]),
         "polite": (st["sft"]["preferred_rate"], st["dpo"]["preferred_rate"]),
         "polite_sampled": ((sampled["stages"]["sft"]["rate"], sampled["stages"]["dpo"]["rate"], sampled["temperature"])
                            if sampled else None)} if ev else {})


def load_sampled_eval() -> dict | None:
    """The sampled polite rate (training/sampled_eval.py's shipped measurement), or None before it has run."""
    path = TINYGPT_DIR / "eval_sampled.json"
    return json.loads(path.read_text()) if path.exists() else None


def sampled_sentence(m: dict) -> str:
    """Greedy picks the single likeliest answer; sampled, SFT is polite about as often as its training chats."""
    sft, dpo = m["stages"]["sft"], m["stages"]["dpo"]
    iv = lambda r: f"{r['rate']:.0%} [{r['interval_95'][0]:.0%}, {r['interval_95'][1]:.0%}]"
    return (f"Sampled at T = {m['temperature']:g} ({m['stages']['sft']['samples']} answers per stage, 95% Wilson "
            f"interval; `{m['command']}`): polite SFT {iv(sft)} → DPO {iv(dpo)}. Greedy decoding turns a "
            "minority habit into never and a majority into always.")


def _seed_division() -> str:
    """What the seed's `logits / temperature` does at T = 0, computed the way it computes it."""
    scaled = torch.tensor([TOY_LOGITS]) / 0.0
    probs = torch.softmax(scaled, dim=-1)
    try:
        torch.multinomial(probs, 1)
        outcome = "and a token was drawn"
    except RuntimeError as exc:
        outcome = f"and `torch.multinomial` fails: “{str(exc).splitlines()[0]}”"
    return (f"The seed's code at T = 0: scores {TOY_LOGITS} ÷ 0 = {[float(x) for x in scaled[0]]}, the softmax is "
            f"{[float(x) for x in probs[0]]}, {outcome}.")


def sampling_section() -> Section:
    logits, ids = torch.tensor(TOY_LOGITS), torch.zeros(1, 1, dtype=torch.long)
    greedy, _ = next_token(logits, ids, SamplingConfig(temperature=0))
    tops, top = [], {}
    for t in (0.3, 1.0, 1.5):
        _, info = next_token(logits, ids, SamplingConfig(temperature=t, top_k=0, top_p=1.0), inspect=len(TOY_LOGITS))
        after_t = next(s for s in info.stages if s.name == "after temperature")
        top[t] = after_t.probs[info.candidates.index(0)]
        tops.append(f"T = {t:g}: {top[t]:.0%}")
    return Section(
        "sampling", "5 · Sampling and temperature",
        "Temperature 0 is greedy, higher is more random; top-k and top-p trim the candidates. Its `generate_text` "
        "divides the scores by the temperature.",
        [_seed_division(),
         f"Our sampler at T = 0 takes the argmax: token {greedy} of {TOY_LOGITS}, every time.",
         "The top token's probability with the same four scores: " + ", ".join(tops) + "."],
        WRONG, "“0 = greedy” is the right idea, but the seed's code cannot run it: dividing by 0 gives infinities "
               "and NaN. Greedy has to be a special case (argmax), as it is here.",
        "chat", {"temperature": 0.0, "top_k": 50, "top_p": 0.9, "seed": 0, "prompt": SEA_PROMPT}, {"top": top})


def scaling_section() -> Section:
    c = 1e21
    rows = {r.law: r for r in scaling.plan(scaling.Hardware(), compute_flops=c)}
    ratio = {law: rows[law].n_tokens / rows[law].n_params for law in ("chinchilla-1", "chinchilla-2",
                                                                      "chinchilla-3", "epoch-2024", "kaplan-2020")}
    k = 10
    acc = {n: (float(scaling.per_token_accuracy(n)), float(scaling.exact_match(n, k))) for n in (1e7, 1e8, 1e9)}
    return Section(
        "scaling", "6 · Scaling laws and emergent abilities",
        f"Compute-optimal training uses ~{SEED_TOKENS_PER_PARAM} tokens per parameter (Chinchilla); abilities appear "
        "suddenly at certain scales.",
        [f"Tokens per parameter at {scaling.sci(c)} FLOPs: " + ", ".join(f"{law} {r:.0f}" for law, r in ratio.items())
         + ".",
         f"Illustrative model: per-token accuracy {' → '.join(f'{a:.2f}' for a, _ in acc.values())} at "
         f"10M → 100M → 1B parameters, exact match on a {k}-token answer "
         f"{' → '.join(f'{e:.2f}' for _, e in acc.values())}."],
        SIMPLIFIED, "~20 is what Approaches 1–2 (and Epoch's refit) give; Chinchilla's own Approach 3 gives more, "
                    "Kaplan far fewer. A sudden jump can come from an all-or-nothing metric over a smooth "
                    "improvement (Schaeffer et al. 2023).",
        "scaling", {"budget": "1e21", "k": k}, {"acc": acc, "k": k})


def takeaways(done: list[Section]) -> Section:
    """The seed's five takeaways, each with the number above that checks it."""
    f = {s.key: s.facts for s in done}
    tok, pipe, samp, scal = f["tokenization"], f["pipeline"], f["sampling"], f["scaling"]
    top = samp["top"]
    checked = [  # (the seed's takeaway, our reading of the numbers, the numbers)
        ("Decoder-only transformers predicting the next token", HOLDS,
         f"at any size (only the MiniGPT's own count is off: ~{f['architecture']['untied'] / 1e6:.0f}M)"),
        (f"1 token ≈ {SEED_WORDS_PER_TOKEN} words", SIMPLIFIED,
         f"{tok['prose_wpt']:.2f} words per GPT-2 token on our English paragraph, {tok['fox_wpt']:.2f} on the fox "
         "sentence, far fewer for code and other languages"),
        ("Pretrain → SFT → RLHF/DPO", HOLDS,
         f"chat format {pipe['format'][0]:.0%} → {pipe['format'][1]:.0%} after SFT, polite answers "
         f"{pipe['polite'][0]:.0%} → {pipe['polite'][1]:.0%} after DPO (greedy"
         + (f"; sampled at T = {pipe['polite_sampled'][2]:g}: {pipe['polite_sampled'][0]:.0%} → "
            f"{pipe['polite_sampled'][1]:.0%})" if pipe.get("polite_sampled") else ")")
         if pipe else "our trio is not trained yet"),
        ("Temperature trades coherence for variety", HOLDS,
         f"the top token's probability goes {' → '.join(f'{p:.0%}' for p in top.values())} from T = {min(top):g} "
         f"to {max(top):g}; T = 0 must be the argmax, not a division"),
        ("Abilities appear suddenly", SIMPLIFIED,
         f"in an illustrative model (not a measurement), exact match on a {scal['k']}-token answer jumps {' → '.join(f'{e:.2f}' for _, e in scal['acc'].values())}"
         f" while per-token accuracy rises smoothly {' → '.join(f'{a:.2f}' for a, _ in scal['acc'].values())}"),
    ]
    kinds = [kind for _, kind, _ in checked]
    lines = [f"{claim}: **{kind}**: {numbers}." for claim, kind, numbers in checked]
    return Section(
        "takeaways", "7 · Key takeaways",
        "LLMs are next-token predictors at scale; BPE subwords at ~0.75 words each; pretrain → SFT → RLHF/DPO; "
        "temperature sets randomness; abilities emerge suddenly.",
        lines, SIMPLIFIED, f"{kinds.count(HOLDS)} of the five hold as stated; the other {kinds.count(SIMPLIFIED)} are "
                           "rough averages or depend on how you measure, as the numbers show.",
        "tokenizer", {"tokenizer": "cl100k_base", "text": EXTRA_PRESETS["English paragraph"]})


def sections() -> list[Section]:
    """The lesson, in the seed's order."""
    done = [large(), architecture(), tokenization(), pipeline_section(), sampling_section(), scaling_section()]
    return done + [takeaways(done)]
