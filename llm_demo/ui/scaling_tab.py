"""Scaling laws tab."""
import gradio as gr


def build_scaling_tab():
    gr.Markdown("## Scaling laws")
    gr.Markdown("This tab will plan compute-optimal model and data sizes with the Chinchilla scaling laws, with interactive curves.")
