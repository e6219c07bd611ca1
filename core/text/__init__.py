"""Chat with GPT-2: causal LMs from the hub or a folder, prompts, streamed replies, and
a small GPT-2 trained here."""
