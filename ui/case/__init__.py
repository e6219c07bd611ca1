"""The Business case page's widgets, one module per tab: `train_tab`, `serve_tab` and
`startup_tab` (each tab's inputs and figures), `scaling_tabs` (Scaling laws and Published
runs: figures only), `prices_tab` (the editable price tables); `tabs` gathers the inputs
into one `Case` and draws the open tab; `exports` holds the downloads and Save this case;
`widgets` what several tabs share. Every widget key starts with "case_"."""
