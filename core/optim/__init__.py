"""Compare optimizers: the registry (torch.optim + Lion, shared with the CNN), the NumPy
update rules, 2-D test surfaces and races on them, races on a real model, and their charts."""
