"""The business case: GPU catalog, cost formulas, the calculator's case and its charts."""
