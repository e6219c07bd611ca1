"""Chat with GPT-2: causal LMs from the hub or a folder (`sources`, `loading`), prompts and
their settings (`prompt`), streamed replies (`generate`), chats (`chat`), and a small GPT-2
trained here (`tinygpt`)."""
