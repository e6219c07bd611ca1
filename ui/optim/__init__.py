"""The Compare optimizers page's tabs: `surface_tab` (the race on 2-D surfaces) and
`model_tab` (the race on a real model, run as a job)."""
