"""Variable roles: the declared ``role:`` of each variable, or one inferred from its name, unit,
dtype, shape and the task's ``goal`` section.

The offline designer builds its staged rewards from roles (reach the ``object`` with the
``effector``, carry the object to the ``goal``, close the ``gripper``, ...). Built-in task files
declare every role; a task file that declares none still works, with the roles inferred here::

    >>> variable_roles(get_task("fetch-push"))["grip_pos"]
    'effector'

Inference, in order, for a variable without a declared role: ``action`` by name; flags (bool)
by the words of their name (``success``, ``healthy``, ``held``, ``closed``); the goal section
(its ``variable`` is the goal, its ``achieved`` the effector or the object); rates (a unit per
``s`` or ``step``) are velocities; then the words of the name (``goal``/``target``, ``opening``,
``quat``, ``object``/``puck``/``handle``..., ``grip``/``tcp``/``fingertip``...), with the
object and effector words only for positions; angles by the unit ``rad``. Last, in a task with
a goal and no effector, a number of the goal's shape and unit becomes the effector (the car of
``mountaincar``). Everything else is ``other``."""

from __future__ import annotations

import re

from rewardforge.tasks.spec import Task, Variable

EFFECTOR_WORDS = frozenset(
    {"grip", "gripper", "tcp", "tip", "fingertip", "hand", "effector", "ee", "eef", "tool"}
)
OBJECT_WORDS = frozenset(
    {"object", "obj", "puck", "block", "ball", "cube", "box", "handle", "button", "peg", "mug"}
)
GOAL_WORDS = frozenset({"goal", "target", "desired"})
GRIPPER_WORDS = frozenset({"opening", "closed", "fingers"})
ORIENTATION_WORDS = frozenset({"quat", "quaternion", "orientation", "rot", "rotation"})
FLAG_WORDS = {
    "success": frozenset({"success", "solved", "done", "achieved"}),
    "alive": frozenset({"healthy", "alive"}),
    "held": frozenset({"held", "grasped", "holding", "grasp"}),
    "gripper": frozenset({"closed", "gripper"}),
}
_RATE = re.compile(r".+/(s|sec|step)")


def _words(name: str) -> set[str]:
    return set(name.lower().split("_"))


def _is_position(var: Variable) -> bool:
    """A number that can be a point: metres, or a unitless scalar or 2-3 vector."""
    if var.dtype == "bool" or len(var.shape) > 1:
        return False
    return var.unit == "m" or (var.unit == "" and var.shape in ((), (2,), (3,)))


def _flag_role(var: Variable) -> str:
    words = _words(var.name)
    for role, vocabulary in FLAG_WORDS.items():
        if words & vocabulary:
            return role
    return "other"


def _by_name(var: Variable) -> str | None:
    words = _words(var.name)
    if _RATE.fullmatch(var.unit.strip()):
        return "velocity"
    if words & GOAL_WORDS and _is_position(var):
        return "goal"
    if words & GRIPPER_WORDS and var.shape == ():
        return "gripper"
    if words & ORIENTATION_WORDS:
        return "angle" if var.unit == "rad" else "other"
    if words & OBJECT_WORDS and _is_position(var):
        return "object"
    if words & EFFECTOR_WORDS and _is_position(var):
        return "effector"
    if var.unit == "rad":
        return "angle"
    return None


def infer_role(var: Variable, task: Task | None = None) -> str:
    """The role of ``var`` from its own fields (and ``task``'s goal section), ignoring a declared
    one. ``variable_roles`` adds the rule that needs the other variables."""
    if var.name == "action" or var.name.endswith("_action"):
        return "action"
    if var.dtype == "bool":
        return _flag_role(var)
    goal = task.goal if task is not None else None
    if goal is not None and var.name == goal.variable:
        return "goal"
    if goal is not None and var.name == goal.achieved:
        return "effector" if _words(var.name) & EFFECTOR_WORDS else "object"
    return _by_name(var) or "other"


def variable_roles(task: Task) -> dict[str, str]:
    """Every variable's role: the declared one, else the inferred one (see the module)."""
    roles = {v.name: v.role or infer_role(v, task) for v in task.variables}
    goals = [v for v in task.variables if roles[v.name] == "goal"]
    if goals and "effector" not in roles.values():
        goal = goals[0]
        for v in task.variables:
            if (
                v.role is None
                and roles[v.name] == "other"
                and v.dtype != "bool"
                and v.shape == goal.shape
                and v.unit == goal.unit
                and v.name != "episode_step"
            ):
                roles[v.name] = "effector"
                break
    return roles


def names_with_role(task: Task, role: str) -> list[str]:
    """The variables of ``task`` with ``role``, in the task's order."""
    roles = variable_roles(task)
    return [v.name for v in task.variables if roles[v.name] == role]


__all__ = ["infer_role", "names_with_role", "variable_roles"]
