"""Frames of states, rendered on a CPU without a display.

A vision teacher needs a picture of each state it compares, but the replay buffer keeps only
the task's variables. So a task that must be rendered gets one more variable, ``sim_state``:
the simulator's own state (MuJoCo ``qpos``, ``qvel`` and mocap bodies; a classic-control
environment's ``state``), written into ``info`` at every step by :class:`SimStateWrapper`.
:class:`StateRenderer` puts any stored ``sim_state`` back into one environment and renders it
(``rgb_array``), at the size and camera asked for. Only the states a teacher is shown are
rendered, and the buffer holds a few numbers per transition instead of a picture.

A reward model over pixels needs a frame of every transition instead: :func:`frame_task` adds
the variable ``frame`` (``(S, S, 3)`` uint8), rendered at every step by :class:`FrameWrapper`.

MuJoCo renders headless through EGL (Mesa's software renderer works without a GPU); call
:func:`configure_headless` before the first environment is made. Classic-control environments
render with pygame.
"""

from __future__ import annotations

import io
import logging
import os
from typing import Any

import gymnasium as gym
import numpy as np

from rewardforge.errors import ConfigError, TaskError
from rewardforge.tasks.envs import build_vector_env
from rewardforge.tasks.spec import Task, Variable, Wrapper
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

SIM_STATE = "sim_state"
FRAME = "frame"
#: Variables that hold pictures or simulator internals, never inputs of a learned reward.
HIDDEN_VARIABLES = frozenset({SIM_STATE, FRAME, "episode_step"})
DEFAULT_RENDER_SIZE = 224


def configure_headless() -> str:
    """Choose MuJoCo's offscreen backend (``MUJOCO_GL``) unless the user chose one: EGL, which
    Mesa provides without a GPU or display. Returns the backend in use."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    return os.environ["MUJOCO_GL"]


# --- simulator state ---------------------------------------------------------------------------
def get_sim_state(env: gym.Env) -> np.ndarray:
    """The simulator state of ``env`` as one flat float64 vector."""
    u = env.unwrapped
    data = getattr(u, "data", None)
    if data is not None and hasattr(data, "qpos"):
        parts = [data.qpos, data.qvel, data.mocap_pos.ravel(), data.mocap_quat.ravel()]
        return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])
    state = getattr(u, "state", None)
    if state is not None:
        return np.asarray(state, dtype=np.float64).ravel()
    raise TaskError(
        f"{type(u).__name__} exposes no simulator state (MuJoCo 'data' or a 'state' attribute), "
        "so its states cannot be rendered again; use the scripted teacher for this task"
    )


def set_sim_state(env: gym.Env, state: np.ndarray) -> None:
    """Put ``state`` (from :func:`get_sim_state`) back into ``env``."""
    u: Any = env.unwrapped
    state = np.asarray(state, dtype=np.float64)
    data = getattr(u, "data", None)
    if data is not None and hasattr(data, "qpos"):
        import mujoco

        sizes = [data.qpos.size, data.qvel.size, data.mocap_pos.size, data.mocap_quat.size]
        if state.size != sum(sizes):
            raise TaskError(f"sim_state has {state.size} numbers, this MuJoCo model {sum(sizes)}")
        qpos, qvel, mpos, mquat = np.split(state, np.cumsum(sizes)[:-1])
        data.qpos[:] = qpos
        data.qvel[:] = qvel
        data.mocap_pos[:] = mpos.reshape(data.mocap_pos.shape)
        data.mocap_quat[:] = mquat.reshape(data.mocap_quat.shape)
        mujoco.mj_forward(u.model, data)
        return
    u.state = state.copy()
    if hasattr(u, "last_u"):
        u.last_u = None  # classic control draws the last action; a stored state has none


class SimStateWrapper(gym.Wrapper):
    """Writes the simulator state into ``info["sim_state"]`` after every reset and step."""

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, SIM_STATE: get_sim_state(self.env)}

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, SIM_STATE: get_sim_state(self.env)}


def resize(frame: np.ndarray, size: int) -> np.ndarray:
    """An ``(size, size, 3)`` uint8 copy of ``frame`` (bilinear)."""
    frame = np.asarray(frame)[..., :3].astype(np.uint8)
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame
    from PIL import Image as PILImage

    image = PILImage.fromarray(frame).resize((size, size), PILImage.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


class FrameWrapper(gym.Wrapper):
    """Writes the rendered frame, resized to ``size``, into ``info["frame"]`` at every step."""

    def __init__(self, env: gym.Env, size: int = 32) -> None:
        super().__init__(env)
        self.size = size

    def _frame(self) -> np.ndarray:
        return resize(np.asarray(self.env.render()), self.size)

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, FRAME: self._frame()}

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, FRAME: self._frame()}


# --- tasks that carry what rendering needs ----------------------------------------------------
def _with_env(task: Task, **changes: Any) -> Task:
    """``task`` with fields of its ``env`` section changed (not validated again)."""
    return task.model_copy(update={"env": task.env.model_copy(update=changes)})


def _with_variable(task: Task, wrapper: Wrapper, variable: Variable, id_suffix: str) -> Task:
    if task.env.vectorization == "native":
        raise ConfigError(
            f"task {task.id} uses a native vector environment, which takes no wrappers, so its "
            "states cannot be rendered; use the scripted teacher and the variables reward model"
        )
    if variable.name in task.variable_names:
        return task
    task = _with_env(task, wrappers=(*task.env.wrappers, wrapper))
    return task.model_copy(
        update={
            "variables": (*task.variables, variable),
            "source_file": task.source_file and f"{task.source_file} (+{id_suffix})",
        }
    )


def state_task(task: Task) -> Task:
    """``task`` with the variable ``sim_state``, so stored states can be rendered again."""
    if SIM_STATE in task.variable_names:
        return task
    probe = make_env(task, num_envs=1, seed=0)
    try:
        probe.reset()
        size = int(get_sim_state(probe.env.envs[0]).size)
    except AttributeError:
        raise ConfigError(f"task {task.id}'s environment cannot be rendered from states") from None
    finally:
        probe.close()
    variable = Variable(
        name=SIM_STATE, shape=(size,), description="simulator state, for rendering",
        source=f'info["{SIM_STATE}"]',
    )  # fmt: skip
    spec = Wrapper(wrapper="rewardforge.preference.render:SimStateWrapper")
    return _with_variable(task, spec, variable, SIM_STATE)


def frame_task(task: Task, size: int = 32) -> Task:
    """``task`` rendering every step into the variable ``frame`` (``(size, size, 3)`` uint8)."""
    configure_headless()
    task = _with_env(task, kwargs={**task.env.kwargs, "render_mode": "rgb_array"})
    variable = Variable.model_construct(  # uint8: frames are no dtype a task file may declare
        name=FRAME, shape=(size, size, 3), dtype="uint8", unit="", description="rendered frame",
        source=f'info["{FRAME}"]',
    )  # fmt: skip
    spec = Wrapper(wrapper="rewardforge.preference.render:FrameWrapper", kwargs={"size": size})
    return _with_variable(task, spec, variable, FRAME)


# --- rendering stored states --------------------------------------------------------------------
class StateRenderer:
    """Renders stored ``sim_state`` vectors of ``task`` as ``(size, size, 3)`` uint8 frames."""

    def __init__(self, task: Task, size: int = DEFAULT_RENDER_SIZE, camera: str | None = None):
        configure_headless()
        self.task, self.size, self.camera = task, size, camera
        self._env: Any = None

    def _open(self) -> Any:
        if self._env is None:
            kwargs = dict(self.task.env.kwargs)
            if self.camera is not None:
                kwargs["camera_name"] = self.camera
            plain = _with_env(self.task, kwargs=kwargs, wrappers=())
            sized = _with_env(plain, kwargs={**kwargs, "width": self.size, "height": self.size})
            vec: Any
            try:  # MuJoCo renders faster at the size asked for; other envs take no size
                vec = build_vector_env(sized, 1, "rgb_array")
            except TypeError:
                vec = build_vector_env(plain, 1, "rgb_array")
            vec.reset(seed=0)
            self._vec = vec
            self._env = vec.envs[0]
        return self._env

    def render(self, states: np.ndarray) -> np.ndarray:
        """``(N, D)`` simulator states -> ``(N, size, size, 3)`` uint8 frames."""
        env = self._open()
        frames = []
        for state in np.asarray(states, dtype=np.float64).reshape(len(states), -1):
            set_sim_state(env, state)
            frames.append(resize(np.asarray(env.render()), self.size))
        return np.stack(frames) if frames else np.zeros((0, self.size, self.size, 3), np.uint8)

    def close(self) -> None:
        if self._env is not None:
            self._vec.close()
            self._env = None

    def __enter__(self) -> StateRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def png_bytes(frame: np.ndarray) -> bytes:
    """``frame`` as PNG bytes (deterministic for the same pixels)."""
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
