"""The Business case tool: `catalog` (the GPU, API-price, model and published-run tables),
`checks` (input checks), `costs` (the formula reference), `case` (inputs -> `Report`),
`figures` (what each tab shows), `exports` (CSV, Markdown, the recorded run), `charts`."""
