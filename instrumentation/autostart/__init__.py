"""Directory put on PYTHONPATH by `tokentrail run`: its sitecustomize.py instruments at startup."""
