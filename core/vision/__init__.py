"""Train a CNN: image data on the device (`data`), the network (`model`), its training loop
(`trainer`), looking at a trained one (`inspect`: test figures, Grad-CAM, predictions,
pictures), its files (`export`), charts (`charts`) and the tool itself (`tool`: request ->
outcome -> run record, and a run loaded back)."""
