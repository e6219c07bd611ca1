"""The chat page's widgets, one module per tab or panel: the Chat tab (`chat_tab`, with
`model`, `settings`, `conversation`, `messages`, and a server as the source: `server`,
`serve`), `side_tab`, `train_tab` and `load_tab`. Every widget key starts with "chat_"."""
