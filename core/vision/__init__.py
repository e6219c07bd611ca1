"""Train a CNN: image data on the device, the classifier, its training, inspection and export."""
