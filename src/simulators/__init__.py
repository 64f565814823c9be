"""Local simulators of the vendor APIs, on a shared harness (``harness.py``)."""
