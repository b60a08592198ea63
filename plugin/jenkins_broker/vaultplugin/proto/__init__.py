"""Protocol buffers of the plugin interfaces (own .proto subsets; see regenerate.py)."""
