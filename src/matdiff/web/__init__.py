"""The web face of matdiff: `matdiff serve` and its page (`server.py`, `derive.py`, `static/`)."""
