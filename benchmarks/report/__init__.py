"""The report: run records in (``collect``), per-cell summaries and statistics (``summary``, ``stats``), verdicts
against the published claims (``published``, ``published.yaml``), tables and figures out; ``python -m
benchmarks.report`` (``main``) writes them. Nothing here imports the trainer (``benchmarks.harness.train``)."""
