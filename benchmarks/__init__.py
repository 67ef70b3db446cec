"""plasticbench harness: tasks, configs, runs, records, reports."""
