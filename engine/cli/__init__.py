"""The command line (``python -m engine``): main, output formatting, benchmarks."""
