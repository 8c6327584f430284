"""Reports and export: a self-contained HTML report, policy animations, a standalone reward."""

from rewardforge.report.animation import animate_candidate, ensure_best_animation, render_policy_gif
from rewardforge.report.export import ExportResult, export_run, standalone_reward_module
from rewardforge.report.html import write_report

__all__ = [
    "ExportResult",
    "animate_candidate",
    "ensure_best_animation",
    "export_run",
    "render_policy_gif",
    "standalone_reward_module",
    "write_report",
]
