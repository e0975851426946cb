"""The chat format our trio is trained on: its special tokens, its chat template and the tokens that end a
generation. Shared by the tokenizer stage, the stage skeleton (training/common.py) and the evaluation.
"""
# Special tokens. <|end|> closes every chat turn and is the eos generate() stops on; <|endoftext|> only separates
# pretraining documents, so the base model never learns to emit <|end|> (it does not know the chat format).
END_OF_TEXT, END, PAD = "<|endoftext|>", "<|end|>", "<|pad|>"
ROLES = ("system", "user", "assistant")
SPECIAL_TOKENS = [END_OF_TEXT, END, PAD] + [f"<|{r}|>" for r in ROLES]

# Prompt rendered with add_generation_prompt=True is a token-exact prefix of prompt + answer, because every
# boundary is a special token (TRL's DPO and SFT rely on that to find where the completion starts).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unknown role: ' + message['role']) }}"
    "{%- endif -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


def stop_token_ids(tokenizer) -> list[int]:
    """Tokens that end a generation: the end of a turn, and the end of a pretraining document."""
    return [tokenizer.convert_tokens_to_ids(END), tokenizer.convert_tokens_to_ids(END_OF_TEXT)]
