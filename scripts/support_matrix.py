"""Print README's table of supported task/model pairs, generated from the tasks' model_kinds and the model families' kinds.

    python scripts/support_matrix.py

A pair outside the table is refused when its config is validated (before any training), naming the models
that fit; tests/test_bad_inputs.py checks that README holds exactly this table.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.config import support_table  # noqa: E402

if __name__ == "__main__":
    print(support_table(), end="")
