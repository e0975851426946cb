"""Tokenizer tab."""
import gradio as gr


def build_tokenizer_tab():
    gr.Markdown("## Tokenizer")
    gr.Markdown("This tab will show how GPT-2, GPT-4 and GPT-4o tokenizers split your text into tokens, with ids, counts and BPE merges.")
