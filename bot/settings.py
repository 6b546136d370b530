"""Settings, read once from the environment (and an optional `.env` file) at the edge of the program."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.resources import default_rules_dir, default_templates_dir


class Settings(BaseSettings):
    """Everything the bot can be configured with. Nothing else in the code reads `os.environ`."""

    model_config = SettingsConfigDict(
        env_prefix="SHOULD_FINETUNE_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `SHOULD_FINETUNE_RULES_DIR=` means "not set", not "the current directory"
        extra="ignore",
    )

    rules_dir: Path = default_rules_dir()
    templates_dir: Path | None = None

    @field_validator("rules_dir", "templates_dir")
    @classmethod
    def _existing_directory(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_dir():
            raise ValueError(f"{path} is not a directory")
        return path

    @property
    def template_dirs(self) -> list[Path]:
        """A team's own templates first, so that each file it provides overrides the default one."""
        return [*([self.templates_dir] if self.templates_dir else []), default_templates_dir()]
