"""Environments for the reinforcement-learning tasks; importing a module registers its gymnasium id."""
