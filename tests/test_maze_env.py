"""The maze environment: gymnasium contract, seeding, the task's rules, and the batched version equal to it."""
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from benchmarks.envs.maze import ENV_ID, MOVES, BatchedMaze, MazeEnv, MazeLayout, MazeSpec, draw_square
import benchmarks.tasks.maze  # noqa: F401  (importing the task registers the environment)

VARIANTS = [{}, {"inputs": "minimal"}, {"inputs": "batched"}]
CENTRE_PATCH = [1, 0, 1, 0, 0, 0, 1, 0, 1]  # pillars on the centre's four diagonals


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_check_env_passes_without_warnings(kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gymnasium.make(ENV_ID, render_mode="rgb_array", **kwargs).unwrapped)
    assert [str(w.message) for w in caught] == []


def test_layout_has_16_pillars_a_border_and_a_free_centre():
    layout = MazeLayout(9)
    walls = layout.walls
    assert walls.shape == (11, 11)
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert walls[1:-1, 1:-1].sum() == 16 and all(walls[r, c] for r in (2, 4, 6, 8) for c in (2, 4, 6, 8))
    assert not walls[layout.centre] and layout.centre == (5, 5)
    assert len(layout.free) == 81 - 16


def _greedy_towards(agent, goal, rng):
    """Half the time a step towards the goal (so episodes hit it and teleport), otherwise a random action."""
    if rng.random() < 0.5:
        return int(rng.integers(4))
    d_row, d_col = goal[0] - agent[0], goal[1] - agent[1]
    if d_row and (not d_col or rng.random() < 0.5):
        return 0 if d_row < 0 else 1
    return 2 if d_col < 0 else 3


def _play(env, seed, n_steps, action_seed=0):
    rng = np.random.default_rng(action_seed)
    obs, info = env.reset(seed=seed)
    trace = [(obs, None, info)]
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(_greedy_towards(info["agent"], info["goal"], rng))
        trace.append((obs, reward, info))
    return trace


def test_reset_seed_reproduces_the_episode_and_seeds_differ():
    first, again = _play(MazeEnv(), 7, 250), _play(MazeEnv(), 7, 250)
    for (o1, r1, i1), (o2, r2, i2) in zip(first, again):
        assert np.array_equal(o1, o2) and r1 == r2 and i1 == i2
    goals = {MazeEnv().reset(seed=s)[1]["goal"] for s in range(20)}
    assert len(goals) > 5


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_batched_equals_single_env_step_for_step(kwargs):
    spec, seeds = MazeSpec(**kwargs), [0, 3, 11, 2 ** 40 + 5]
    envs = [MazeEnv(**kwargs) for _ in seeds]
    infos = [env.reset(seed=s)[1] for env, s in zip(envs, seeds)]
    batched = BatchedMaze(spec, seeds)
    obs = batched.reset()
    rng, hits = np.random.default_rng(1), 0
    for t in range(spec.episode_steps):
        singles = [env._observation() for env in envs]
        assert torch.equal(obs, torch.from_numpy(np.stack(singles))), f"observation differs at step {t}"
        assert batched.goal.tolist() == [list(i["goal"]) for i in infos]
        actions = [_greedy_towards(i["agent"], i["goal"], rng) for i in infos]
        obs, reward = batched.step(torch.tensor(actions))
        results = [env.step(a) for env, a in zip(envs, actions)]
        infos = [r[4] for r in results]
        assert torch.equal(reward, torch.tensor([r[1] for r in results], dtype=torch.float32))
        assert batched.agent.tolist() == [list(i["agent"]) for i in infos]
        hits += sum(r[1] > 1 for r in results)
    assert hits >= 10  # teleports were exercised
    assert all(r[3] for r in results)  # every single env truncated at the same step


def test_default_observation_is_the_paper_codes_raw_counter_and_no_action():
    env = MazeEnv()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (17,) and obs.dtype == np.float32
    assert obs[:9].tolist() == CENTRE_PATCH
    assert obs[9:].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]  # five zeros, reward, counter t = 0, bias
    for t in range(1, 8):
        obs, *_ = env.step(t % 4)
        assert obs[15] == t and obs[16] == 1  # the raw counter t, not t / 250
        assert obs[9:14].tolist() == [0] * 5  # no previous-action input anywhere
    env.reset(seed=0)
    obs, *_ = env.step(2)  # left: (5, 5) -> (5, 4), between the pillars (4, 4) and (6, 4)
    assert obs[:9].tolist() == [0, 1, 0, 0, 0, 0, 0, 1, 0] and obs[14] == 0


def test_batched_and_minimal_observation_layouts():
    env = MazeEnv(inputs="batched")
    obs, _ = env.reset(seed=0)
    assert obs[:9].tolist() == CENTRE_PATCH
    assert obs[9:].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]  # unused, bias, counter, reward, no previous action
    obs, *_ = env.step(2)
    assert obs[11] == np.float32(1 / 250) and obs[12] == 0 and obs[13:].tolist() == [0, 0, 1, 0]
    minimal, _ = MazeEnv(inputs="minimal").reset(seed=0)
    assert minimal.shape == (10,) and minimal[:9].tolist() == CENTRE_PATCH


def test_wall_bump_costs_and_stays():
    env = MazeEnv()
    env.reset(seed=0)
    env.agent = (1, 1)
    env.goal = (9, 9)
    obs, reward, *_ , info = env.step(0)  # up into the border
    assert reward == pytest.approx(-0.1) and info["agent"] == (1, 1) and obs[14] == np.float32(-0.1)
    env.agent = (1, 2)
    _, reward, *_, info = env.step(1)  # down into the pillar (2, 2)
    assert reward == pytest.approx(-0.1) and info["agent"] == (1, 2)


def test_reaching_the_reward_pays_and_teleports():
    env = MazeEnv()
    for seed in range(50):
        env.reset(seed=seed)
        goal = env.goal
        d_row, d_col = MOVES[3]
        env.agent = (goal[0] - d_row, goal[1] - d_col)
        if env.layout.walls[env.agent]:
            continue
        obs, reward, *_, info = env.step(3)  # right, into the reward square
        assert reward == 10.0 and obs[14] == 10.0
        assert info["agent"] != goal and not env.layout.walls[info["agent"]]
        assert info["goal"] == goal  # the reward stays where it is for the whole episode


def test_reward_square_is_never_a_wall_or_the_start_and_covers_the_maze():
    layout = MazeLayout(9)
    rng = np.random.default_rng(0)
    goals = {draw_square(rng, layout, exclude=layout.centre) for _ in range(3000)}
    assert goals == set(layout.free) - {layout.centre}


def test_episode_truncates_after_250_steps():
    env = MazeEnv()
    env.reset(seed=1)
    for t in range(1, 251):
        *_, terminated, truncated, _ = env.step(t % 4)
        assert not terminated and truncated == (t == 250)


def test_render_draws_walls_agent_and_goal():
    env = gymnasium.make(ENV_ID, render_mode="rgb_array").unwrapped
    _, info = env.reset(seed=2)
    frame = env.render()
    assert frame.shape == (11 * 16, 11 * 16, 3) and frame.dtype == np.uint8
    (ar, ac), (gr, gc) = info["agent"], info["goal"]
    assert tuple(frame[ar * 16 + 8, ac * 16 + 8]) == (40, 90, 200)  # agent
    assert tuple(frame[gr * 16 + 1, gc * 16 + 1]) == (245, 190, 40)  # goal
    assert tuple(frame[1, 1]) == (60, 60, 70)  # wall
    assert MazeEnv().render() is None


@pytest.mark.parametrize("key, value", [("size", 4), ("episode_steps", 0), ("reward_value", 0.0), ("inputs", "pixels"),
                                        ("inputs", "reference")])
def test_bad_spec_values_are_named(key, value):
    with pytest.raises(ValueError, match=key):
        MazeSpec(**{key: value})
