"""The performance benchmark: ``main`` (``python -m benchmarks.perf``) runs each measurement in a fresh
``worker`` process, ``counts`` gives the profiler's FLOPs and bytes for the roofline, ``report`` checks the
targets and writes the markdown table."""
