"""The Runs page's panels: `running` (the jobs running now), `listing` (filters, the table of
recorded runs, how a picker names a run), `compare_tab`, `open_tab` (one run: results,
files, delete) and `pitch_tab` (the pitch pack). Every widget key starts with "runs_"."""
