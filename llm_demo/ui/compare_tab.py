"""Compare: base vs SFT vs DPO tab."""
import gradio as gr


def build_compare_tab():
    gr.Markdown("## Compare: base vs SFT vs DPO")
    gr.Markdown("This tab will send one prompt through a base model, its SFT version and its DPO version, side by side.")
