"""Command-line tools a user runs against the pipeline (producer, smoke tests, builders)."""
