import sys

from benchmarks.perf.main import cli

sys.exit(cli())
