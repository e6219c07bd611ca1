"""The Train a CNN page's widgets, one module per part of the page, top to bottom: `source`
(the data: built-in, download, upload; a preview), `settings` (the model and training
settings), `training` (Train and Stop, live curves, Run elsewhere), `results` (figures,
curves and diagnostics of a run), `try_it` (a picture of the user's, and export) and `loader`
(a model back from a recorded run or from files). Every widget key starts with "cnn_".
"""
