"""The window's panels: one module per panel (empty state, model, recipe, results)."""
