"""The window's panels: one module per panel (empty state, model; later recipe, plots, results)."""
