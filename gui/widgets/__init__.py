"""Small reusable widgets (status bar job indicator, ...)."""
