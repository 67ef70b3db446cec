import sys

from benchmarks.report.main import main

sys.exit(main())
