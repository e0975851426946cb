"""Chat tab."""
import gradio as gr


def build_chat_tab():
    gr.Markdown("## Chat")
    gr.Markdown("This tab will stream answers from an instruct model and show what temperature, top-k and top-p do to the next-token distribution.")
