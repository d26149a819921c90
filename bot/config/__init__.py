"""Settings, read once from the environment and passed down; every problem named at start."""

from bot.config.load import SettingProblem, inspect_settings, load_settings
from bot.config.settings import Settings

__all__ = ["SettingProblem", "Settings", "inspect_settings", "load_settings"]
