"""Step-by-step lessons (jupytext percent scripts). Run ``python -m lessons`` to list them."""
