"""Compare optimizers: the registry, 2-D test surfaces and races, and races on a real model."""
