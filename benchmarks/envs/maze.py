"""The grid maze of Miconi et al. (2018, section 4.5) as a gymnasium environment and as a batched tensor version.

Layout: a ``size`` x ``size`` interior (9 x 9) inside a wall border, with a pillar at every square whose row and
column are both even (16 pillars); the start square (the centre) is always free. Every episode hides a reward at
a random free square other than the start, invisible to the agent. Moving into it gives ``reward_value`` (+10)
and teleports the agent to a random free square other than the reward's; moving into a wall gives
``-wall_penalty`` (-0.1) and the agent stays. Episodes last ``episode_steps`` (250) steps; actions are absolute
(0 up, 1 down, 2 left, 3 right).

Observation (float32), by ``inputs`` (the layouts are in ``OBS_LAYOUTS``):

``"paper_code"`` (default; 17 values, the 2018 paper's code ``maze/maze.py``; the parameter counts the paper
reports need exactly these 17 inputs, benchmarks/protocols.md, maze):
    [0:9]   3 x 3 neighbourhood centred on the agent, row-major, 1 = wall
    [9:14]  always 0 (slots that code leaves unused; its previous-action line is commented out)
    [14]    reward received at the previous step
    [15]    raw step counter t (0 .. episode_steps - 1 while the agent acts)
    [16]    bias, always 1
``"batched"`` (17 values, the inputs of the same repository's later batched scripts ``maze/batch.py``: a
normalised counter and the previous action; the order of the slots is this harness's own):
    [0:9]   neighbourhood, [9] always 0, [10] bias 1, [11] t / episode_steps, [12] previous reward,
    [13:17] one-hot previous action (all zero at t = 0)
``"minimal"`` (10 values, the paper text): the neighbourhood and the previous reward.

``MazeEnv`` is the plain single-episode environment (numpy); ``BatchedMaze`` runs many episodes at once in
torch for training and is tested step for step equal to ``MazeEnv`` with the same seeds. Both draw every random
square through ``draw_square`` from one numpy generator per episode seeded like gymnasium's ``reset(seed=...)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding
from torch import Tensor

ENV_ID = "plasticbench/Maze-v0"
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right as (d_row, d_col)
N_ACTIONS = len(MOVES)
COLOURS = {"wall": (60, 60, 70), "free": (235, 235, 225), "goal": (245, 190, 40), "agent": (40, 90, 200),
           "trail": (150, 180, 235)}


@dataclass(frozen=True)
class ObsLayout:
    """Where each input sits in an observation; None = the layout has no such input."""
    size: int
    reward: int
    bias: int | None = None
    counter: int | None = None
    normalised: bool = False  # counter = t / episode_steps (else the raw t)
    action: int | None = None  # first slot of the previous action's one-hot


OBS_LAYOUTS = {"paper_code": ObsLayout(17, reward=14, counter=15, bias=16),
               "batched": ObsLayout(17, reward=12, bias=10, counter=11, normalised=True, action=13),
               "minimal": ObsLayout(10, reward=9)}
INPUTS = tuple(OBS_LAYOUTS)


@dataclass(frozen=True)
class MazeSpec:
    size: int = 9  # interior side (odd); pillars at every square with both coordinates even
    episode_steps: int = 250  # steps per episode
    reward_value: float = 10.0  # reward for reaching the hidden square (then teleport)
    wall_penalty: float = 0.1  # subtracted when the agent walks into a wall (it stays)
    inputs: str = "paper_code"  # observation: paper_code (17, raw counter) | batched (17, t/250 + action) | minimal

    def __post_init__(self) -> None:
        if self.size < 3 or self.size % 2 == 0:
            raise ValueError(f"size={self.size} must be odd and >= 3")
        if self.episode_steps < 1:
            raise ValueError(f"episode_steps={self.episode_steps} must be >= 1")
        if not self.reward_value > 0:
            raise ValueError(f"reward_value={self.reward_value} must be > 0 (a reward worth finding)")
        if self.wall_penalty < 0:
            raise ValueError(f"wall_penalty={self.wall_penalty} must be >= 0")
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs={self.inputs!r} is not one of {INPUTS}")

    @property
    def layout(self) -> ObsLayout:
        return OBS_LAYOUTS[self.inputs]

    @property
    def obs_size(self) -> int:
        return self.layout.size


class MazeLayout:
    """Walls, free squares and the precomputed 3 x 3 neighbourhood of every square."""

    def __init__(self, size: int) -> None:
        side = size + 2
        walls = np.zeros((side, side), dtype=bool)
        walls[[0, -1], :] = walls[:, [0, -1]] = True
        walls[2:-1:2, 2:-1:2] = True  # pillars: interior squares with both coordinates even
        self.centre = (side // 2, side // 2)
        walls[self.centre] = False  # the start is free whatever the size (pillar only when side // 2 is even)
        self.side, self.walls = side, walls
        self.free = [(r, c) for r in range(side) for c in range(side) if not walls[r, c]]  # row-major
        padded = np.pad(walls, 1, constant_values=True)
        self.patches = np.stack([padded[r:r + 3, c:c + 3].reshape(9) for r in range(side) for c in range(side)])
        self.patches = self.patches.astype(np.float32)  # (side * side, 9), index r * side + c


def draw_square(rng: np.random.Generator, layout: MazeLayout, exclude: tuple[int, int]) -> tuple[int, int]:
    """A uniformly random free square other than ``exclude``: one ``rng.integers`` draw."""
    candidates = [square for square in layout.free if square != exclude]
    return candidates[int(rng.integers(len(candidates)))]


def observation_bounds(spec: MazeSpec) -> tuple[np.ndarray, np.ndarray]:
    rewards, slots = (0.0, -spec.wall_penalty, spec.reward_value), spec.layout
    # unused slots (0) and the bias (1) keep [0, 1]: gymnasium warns on low == high
    low, high = np.zeros(spec.obs_size, np.float32), np.ones(spec.obs_size, np.float32)
    low[slots.reward], high[slots.reward] = min(rewards), max(rewards)
    if slots.counter is not None and not slots.normalised:
        high[slots.counter] = float(spec.episode_steps)  # the observation after the last step holds t = 250
    return low, high


def counter_value(spec: MazeSpec, t: int) -> float:
    return t / spec.episode_steps if spec.layout.normalised else float(t)


def render_frame(layout: MazeLayout, agent: tuple[int, int], goal: tuple[int, int] | None,
                 trail: Sequence[tuple[int, int]] = (), cell: int = 16) -> np.ndarray:
    """RGB image (side * cell, side * cell, 3) uint8: walls, recent positions, reward square, agent."""
    colours = np.where(layout.walls[..., None], COLOURS["wall"], COLOURS["free"]).astype(np.uint8)
    for r, c in trail:
        colours[r, c] = COLOURS["trail"]
    if goal is not None:
        colours[goal] = COLOURS["goal"]
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    r, c = agent
    margin = cell // 4
    image[r * cell + margin:(r + 1) * cell - margin, c * cell + margin:(c + 1) * cell - margin] = COLOURS["agent"]
    return image


class MazeEnv(gymnasium.Env):
    """One maze episode at a time (the plain reference the batched version is tested against)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, render_mode: str | None = None, **spec: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not one of {self.metadata['render_modes']}")
        self.maze = MazeSpec(**spec)
        self.layout = MazeLayout(self.maze.size)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(*observation_bounds(self.maze), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.agent, self.goal = self.layout.centre, self.layout.centre
        self.t, self.prev_reward, self.prev_action = 0, 0.0, None
        self.started = False  # step() needs reset() first: the goal is drawn there

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.agent = self.layout.centre
        self.goal = draw_square(self.np_random, self.layout, exclude=self.layout.centre)
        self.t, self.prev_reward, self.prev_action = 0, 0.0, None
        self.started = True
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.started:
            raise RuntimeError("MazeEnv.step() before reset(): call env.reset(seed=...) first (it draws the goal)")
        if self.t >= self.maze.episode_steps:
            raise RuntimeError(f"MazeEnv.step() after the episode was truncated at step {self.maze.episode_steps}: "
                               "call env.reset() to start the next episode")
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} is not in {self.action_space}")
        d_row, d_col = MOVES[int(action)]
        target = (self.agent[0] + d_row, self.agent[1] + d_col)
        reward = 0.0
        if self.layout.walls[target]:
            reward -= self.maze.wall_penalty
        else:
            self.agent = target
        if self.agent == self.goal:
            reward += self.maze.reward_value
            self.agent = draw_square(self.np_random, self.layout, exclude=self.goal)
        self.t += 1
        self.prev_reward, self.prev_action = reward, int(action)
        truncated = self.t >= self.maze.episode_steps  # a time limit, not a terminal state
        return self._observation(), reward, False, truncated, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return render_frame(self.layout, self.agent, self.goal)

    def _observation(self) -> np.ndarray:
        r, c = self.agent
        slots = self.maze.layout
        obs = np.zeros(slots.size, dtype=np.float32)
        obs[:9] = self.layout.patches[r * self.layout.side + c]
        obs[slots.reward] = self.prev_reward
        if slots.bias is not None:
            obs[slots.bias] = 1.0
        if slots.counter is not None:
            obs[slots.counter] = counter_value(self.maze, self.t)
        if slots.action is not None and self.prev_action is not None:
            obs[slots.action + self.prev_action] = 1.0
        return obs

    def _info(self) -> dict:
        return {"agent": self.agent, "goal": self.goal, "t": self.t}


class BatchedMaze:
    """B maze episodes stepped together in torch; episode b's randomness comes only from ``seeds[b]``."""

    def __init__(self, spec: MazeSpec, seeds: Sequence[int]) -> None:
        self.spec, self.layout = spec, MazeLayout(spec.size)
        self.rngs = [seeding.np_random(int(seed))[0] for seed in seeds]
        self.walls = torch.from_numpy(self.layout.walls)  # (side, side) bool
        self.patches = torch.from_numpy(self.layout.patches)  # (side * side, 9)
        self.moves = torch.tensor(MOVES)  # (4, 2)
        self.batch_size = len(self.rngs)

    def reset(self) -> Tensor:
        """Start every episode at the centre with a fresh hidden reward square; returns obs (B, obs_size)."""
        centre = self.layout.centre
        self.agent = torch.tensor([centre] * self.batch_size)  # (B, 2) row, col
        self.goal = torch.tensor([draw_square(rng, self.layout, exclude=centre) for rng in self.rngs])  # (B, 2)
        self.t = 0
        self.prev_reward = torch.zeros(self.batch_size)
        self.prev_action = torch.full((self.batch_size,), -1)
        return self.observation()

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        """actions: (B,) int64 in [0, 4) -> (obs (B, obs_size), reward (B,) float32)."""
        target = self.agent + self.moves[actions]  # (B, 2)
        bump = self.walls[target[:, 0], target[:, 1]]  # (B,)
        self.agent = torch.where(bump.unsqueeze(1), self.agent, target)
        reward = torch.where(bump, -self.spec.wall_penalty, 0.0)
        hit = (self.agent == self.goal).all(dim=1)  # (B,): never together with a bump (the goal is free)
        reward = torch.where(hit, reward + self.spec.reward_value, reward)
        for b in hit.nonzero().flatten().tolist():  # rare: a python loop keeps each episode's own generator
            self.agent[b] = torch.tensor(draw_square(self.rngs[b], self.layout, exclude=tuple(self.goal[b].tolist())))
        self.t += 1
        self.prev_reward, self.prev_action = reward, actions
        return self.observation(), reward

    def observation(self) -> Tensor:
        slots = self.spec.layout
        obs = torch.zeros(self.batch_size, slots.size)
        obs[:, :9] = self.patches[self.agent[:, 0] * self.layout.side + self.agent[:, 1]]
        obs[:, slots.reward] = self.prev_reward
        if slots.bias is not None:
            obs[:, slots.bias] = 1.0
        if slots.counter is not None:
            obs[:, slots.counter] = counter_value(self.spec, self.t)
        if slots.action is not None:
            acted = (self.prev_action >= 0).nonzero().flatten()  # every episode after step 0
            obs[acted, slots.action + self.prev_action[acted]] = 1.0
        return obs


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="benchmarks.envs.maze:MazeEnv")
