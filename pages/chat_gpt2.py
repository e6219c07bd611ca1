"""Chat with GPT-2: any causal LM from the hub or a local folder, or a small GPT-2 trained
here; replies stream token by token with speed, cost and per-token probabilities.

Widgets (`ui/chat/`) -> `core.text.prompt.Settings` -> a reply streamed by
`core.text.generate` (a worker generates) or `core.serving.client` (an OpenAI-compatible
server streams), written into a `core.text.chat.Message` at most 20 times a second. A local
model can be served from the page, and a server measured under load.
"""

import streamlit as st

import ui
from core import device as dev
from core.economics import costs
from ui.chat import chat_tab, load_tab, side_tab, train_tab

ui.require_navigation()
st.title("Chat with GPT-2")
st.caption(
    "Type and a language model answers, live, on this machine - with what each reply cost "
    "and how sure the model was of every token."
)
device = ui.session_device()
price, _ = costs.hardware_rate(device, dev.probe_hardware().gpu_name, dev.cpu_threads())
tab_chat, tab_side, tab_train, tab_load = st.tabs(
    ["Chat", "Side by side", "Train your own GPT-2", "Load test"]
)
with tab_chat:
    loaded, server, server_price = chat_tab.chat_tab_ui(device, price)
with tab_side:
    side_tab.side_tab_ui(loaded, device, price)
with tab_train:
    train_tab.train_tab_ui(device)
with tab_load:
    load_tab.load_tab_ui(server, server_price, device)
