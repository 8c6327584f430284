"""Rewards learned from preferences (RL-VLM-F, PEBBLE), and teachers as judges.

Read in this order: :mod:`.teachers` (who labels a pair of states: the scripted teacher with
B-Pref's knobs, or a VLM asked in two stages, with a label cache), :mod:`.reward_model` (the
Bradley-Terry ensemble and the ``RewardFunction`` SAC trains on), :mod:`.schedule` (PEBBLE's
schedule: explore, then ask, refit and relabel every so often), :mod:`.render` (frames of
stored states on a CPU), :mod:`.judge` (fitness from a tournament of rollouts). The search
strategy that records all of it in a run is ``rewardforge.search.preference``.
"""

from rewardforge.preference.judge import (
    FinalStates,
    JudgedTrainer,
    Tournament,
    final_states,
    judge_policies,
    tournament,
)
from rewardforge.preference.render import (
    StateRenderer,
    configure_headless,
    frame_task,
    png_bytes,
    state_task,
)
from rewardforge.preference.reward_model import (
    LearnedReward,
    RewardLearner,
    RewardModelConfig,
    bradley_terry_loss,
    export_program,
)
from rewardforge.preference.schedule import PreferenceLoop, PreferenceSchedule, PreferenceUpdate
from rewardforge.preference.teachers import (
    Judgement,
    LabelCache,
    PairBatch,
    ScriptedTeacher,
    Teacher,
    TeacherKnobs,
    VLMTeacher,
    parse_answer,
)

__all__ = [
    "FinalStates",
    "JudgedTrainer",
    "Judgement",
    "LabelCache",
    "LearnedReward",
    "PairBatch",
    "PreferenceLoop",
    "PreferenceSchedule",
    "PreferenceUpdate",
    "RewardLearner",
    "RewardModelConfig",
    "ScriptedTeacher",
    "StateRenderer",
    "Teacher",
    "TeacherKnobs",
    "Tournament",
    "VLMTeacher",
    "bradley_terry_loss",
    "configure_headless",
    "export_program",
    "final_states",
    "frame_task",
    "judge_policies",
    "parse_answer",
    "png_bytes",
    "state_task",
    "tournament",
]
