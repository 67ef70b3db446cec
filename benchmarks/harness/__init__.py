"""The harness: one (task, model, budget, seed) cell from its config to its record. ``config`` composes,
validates and resolves the cell; ``train`` trains and evaluates it; ``checkpoint``, ``records``, ``loggers``,
``seeding``, ``devices``, ``memory``, ``progress`` and ``atomic`` are the pieces it uses; ``models`` holds the
model families (the task registry is ``benchmarks.tasks.TASKS``)."""
