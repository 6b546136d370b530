"""Settings, read once from the environment (and an optional `.env` file) at the edge of the program."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.resources import default_rules_dir, default_templates_dir
from bot.schedule import WEEKDAYS, Schedule, parse_time, parse_weekday, parse_zone

ENV_PREFIX = "SHOULD_FINETUNE_"

# Slack's own names for its settings, as every Slack app documents them; everything else carries the prefix.
_SLACK_NAMES = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "redis_url": "REDIS_URL",
}


def _slack_name(field: str) -> Any:
    return AliasChoices(_SLACK_NAMES[field], ENV_PREFIX + _SLACK_NAMES[field])


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "should-finetune"


_S = TypeVar("_S", bound="DecisionSettings")


class SettingsError(ValueError):
    """A setting that is missing or malformed; the message names the environment variable."""


class _Conflict(ValueError):
    """A setting that does not fit the others (checked once all are read): names the field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class DecisionSettings(BaseSettings):
    """What deciding needs: the rule set and the templates. `evaluate`, `rules check`, `manifest` and `--version`
    read only these, so a Slack or Redis setting they never use (the README's placeholders in `.env`, say) cannot
    stop them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `SHOULD_FINETUNE_RULES_DIR=` means "not set", not "the current directory"
        extra="ignore",
        populate_by_name=True,
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


class Settings(DecisionSettings):
    """Everything the bot can be configured with. Nothing else in the code reads `os.environ`.

    The Slack credentials are checked by `require`, by the commands that use them, not when the settings are read."""

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_slack_name("slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_slack_name("slack_signing_secret"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_slack_name("slack_app_token"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_slack_name("slack_api_url"))
    redis_url: SecretStr | None = Field(None, validation_alias=_slack_name("redis_url"))

    # How the bot reaches Redis. `standalone`: REDIS_URL, or the embedded Redis when it is unset. `cluster`: REDIS_URL
    # names any one node of a Redis Cluster. `sentinel`: the sentinels (host:port, comma-separated) name the master of
    # the service; REDIS_URL, if set, gives only its password and database (redis://:password@/0).
    redis_mode: Literal["standalone", "cluster", "sentinel"] = "standalone"
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = []
    redis_sentinel_service: str = "mymaster"
    # Where the embedded Redis keeps its append-only file when REDIS_URL is unset.
    data_dir: Path = Field(default_factory=_default_data_dir)
    redis_prefix: str = "should-finetune"
    host: str = "0.0.0.0"  # a server in a container listens on every interface
    port: int = Field(3000, ge=1, le=65535)
    threads: int = Field(16, ge=1, le=256)
    # Threads for the work done after the response (answers, verdict posts): how many Web API calls can be in
    # flight at once. Only two of them compute at a time (`bot.slots`), so more threads do not make the HTTP
    # answers wait for the interpreter.
    worker_threads: int = Field(16, ge=1, le=256)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    log_level: str = "INFO"
    # `json`: one JSON object per line (for a log collector); `text`: plain lines for a terminal.
    log_format: str = "json"
    # Whether `serve` answers GET /metrics (Prometheus). It is not signed: keep it off the public route.
    metrics: bool = True

    # How long things are kept: a decision after its last version, a thread's conversation after its last message.
    retention_days: int = Field(365, ge=1, le=36_500)
    conversation_idle_days: int = Field(30, ge=1, le=36_500)
    # How long a worker may take over a follow-up before another replica finishes it instead.
    work_lease_seconds: float = Field(60.0, ge=0.5, le=3600.0)
    # How long a worker keeps trying to mark its work done while Redis is away: longer than a failover takes.
    work_finish_seconds: float = Field(30.0, ge=0.0, le=3600.0)

    # Re-review: the reactions that ask for one, who is asked to look (user ids and user group ids, who may also
    # edit anyone's answers), and how long one person's second request for the same decision is ignored.
    rereview_emoji: Annotated[list[str], NoDecode] = ["repeat"]
    reviewers: Annotated[list[str], NoDecode] = []
    rereview_cooldown_seconds: float = Field(600.0, ge=0.0, le=86_400.0)

    # The weekly digest: when it is due (weekday, HH:MM, IANA time zone), whether a week without decisions still
    # gets one, whether the bot process sends them (off when a cron job runs `should-finetune digest` instead),
    # the pause between two messages in one channel, and how long a runner owns a channel's digest before another
    # may take over from it.
    digest_weekday: str = "monday"
    digest_time: str = "09:00"
    digest_timezone: str = "UTC"
    digest_quiet_weeks: bool = False
    digest_scheduler: bool = True
    digest_post_interval_seconds: float = Field(1.1, ge=0.0, le=60.0)
    digest_lock_seconds: float = Field(120.0, ge=1.0, le=3600.0)

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("expected an http:// or https:// URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("the URL has no socket path")
        _database(parts)
        return value  # whether it needs a host depends on SHOULD_FINETUNE_REDIS_MODE: see `_redis_fits_mode`

    @field_validator("redis_mode", mode="before")
    @classmethod
    def _redis_mode(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"standalone", "cluster", "sentinel"}:
            return value.strip().lower()
        raise ValueError("expected standalone, cluster or sentinel")

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinels(cls, value: object) -> list[tuple[str, int]]:
        if isinstance(value, list) and all(isinstance(item, tuple) for item in value):
            return value  # already parsed
        addresses = []
        for item in _items(value):
            try:
                parts = urlsplit("//" + item)
                host, port = parts.hostname, parts.port or 26379
            except ValueError:
                host = None
            if not host or parts.path or parts.username or parts.query:
                raise ValueError(f'"{item}" is not a sentinel address; write host:port, such as 10.0.0.5:26379')
            addresses.append((host, port))
        return list(dict.fromkeys(addresses))

    @field_validator("redis_sentinel_service")
    @classmethod
    def _sentinel_service(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", value):
            raise ValueError("expected the name the sentinels monitor the master under, such as mymaster")
        return value

    @model_validator(mode="after")
    def _redis_fits_mode(self) -> Self:
        url = urlsplit(self.redis_url.get_secret_value()) if self.redis_url is not None else None
        if self.redis_mode != "sentinel" and self.redis_sentinels:
            raise _Conflict("redis_sentinels", "only used with SHOULD_FINETUNE_REDIS_MODE=sentinel")
        if self.redis_mode == "standalone":
            if url is not None and url.scheme != "unix" and not url.hostname:
                raise _Conflict("redis_url", "the URL has no host")
        elif self.redis_mode == "cluster":
            if url is None:
                raise _Conflict(
                    "redis_url",
                    "SHOULD_FINETUNE_REDIS_MODE=cluster needs the URL of one node of the cluster, such as "
                    "redis://:password@10.0.0.5:6379/0 (the embedded Redis is not a cluster)",
                )
            if url.scheme == "unix" or not url.hostname:
                raise _Conflict("redis_url", "a Redis Cluster node is reached over TCP: redis://host:port/0")
            if (database := _database(url)) != 0:
                raise _Conflict(
                    "redis_url", f"a Redis Cluster has only database 0, and the URL asks for database {database}"
                )
        else:
            if not self.redis_sentinels:
                raise _Conflict(
                    "redis_sentinels",
                    "SHOULD_FINETUNE_REDIS_MODE=sentinel needs the sentinels' addresses, host:port, comma-separated "
                    "(the embedded Redis has no sentinels)",
                )
            if url is not None and url.scheme != "redis":
                raise _Conflict(
                    "redis_url",
                    "with sentinels it gives only the master's password and database, as redis://:password@/0 "
                    "(TLS through sentinels is not supported)",
                )
        return self

    @field_validator("rereview_emoji", mode="before")
    @classmethod
    def _emoji(cls, value: object) -> list[str]:
        names = [name.strip().strip(":") for name in _items(value)]
        for name in names:
            if not re.fullmatch(r"[a-z0-9_+'-]{1,100}", name):
                raise ValueError(f'"{name}" is not an emoji name; write names like repeat or arrows_counterclockwise')
        if not names:
            raise ValueError("name at least one emoji, such as repeat")
        return list(dict.fromkeys(names))

    @field_validator("reviewers", mode="before")
    @classmethod
    def _reviewers(cls, value: object) -> list[str]:
        ids = _items(value)
        for reviewer in ids:
            if not re.fullmatch(r"[UWS][A-Z0-9]{2,40}", reviewer):
                raise ValueError(
                    f'"{reviewer}" is not a member id (U…, W…) or a user group id (S…); copy it from the profile '
                    "or the group's page in Slack"
                )
        return list(dict.fromkeys(ids))

    @field_validator("digest_weekday")
    @classmethod
    def _digest_weekday(cls, value: str) -> str:
        return WEEKDAYS[parse_weekday(value)]

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        return f"{parse_time(value):%H:%M}"

    @field_validator("digest_timezone")
    @classmethod
    def _digest_timezone(cls, value: str) -> str:
        return parse_zone(value).key

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR")
        if value.upper() not in levels:
            raise ValueError(f"expected one of {', '.join(levels)}")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in {"json", "text"}:
            raise ValueError("expected json or text")
        return value.lower()

    @property
    def digest_schedule(self) -> Schedule:
        """When the weekly digest is due."""
        return Schedule(
            weekday=parse_weekday(self.digest_weekday),
            at=parse_time(self.digest_time),
            zone=parse_zone(self.digest_timezone),
        )

    def require(self, *fields: str) -> None:
        """Stop with a `SettingsError` naming each of `fields` that is not set, or not what Slack issues."""
        missing = [env_name(name) for name in fields if getattr(self, name) is None]
        problems = [f"{' and '.join(missing)} must be set (in the environment or a .env file)"] if missing else []
        for name in fields:
            value, check = getattr(self, name), _CREDENTIALS.get(name)
            if value is not None and check is not None and (problem := check(value.get_secret_value())):
                problems.append(f"setting {env_name(name)}: {problem}")
        if problems:
            raise SettingsError("\n".join(problems))


def env_name(field: str) -> str:
    """The environment variable a field is read from."""
    return _SLACK_NAMES.get(field) or ENV_PREFIX + field.upper()


def _database(url: SplitResult) -> int:
    """The database number a redis:// URL asks for (its path or `?db=`), 0 if none; ValueError if it is no number."""
    if url.scheme == "unix":
        given = parse_qs(url.query).get("db", ["0"])[0]
    else:
        given = parse_qs(url.query).get("db", [url.path.strip("/") or "0"])[0]
    if not given.isdigit():
        raise ValueError("the database (the URL's path, or ?db=) must be a number such as 0")
    return int(given)


def _items(value: object) -> list[str]:
    """A list setting written as "a, b c" in the environment, or given as a list."""
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,]+", value) if item]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ValueError("expected a comma-separated list")


def _placeholder(value: str) -> bool:
    return "..." in value or "…" in value or value.startswith("<")


def _token_problem(prefix: str, what: str, where: str) -> Callable[[str], str | None]:
    def check(token: str) -> str | None:
        if _placeholder(token):
            return f"still a placeholder: paste {what} from {where}"
        if not token.startswith(prefix) or not re.fullmatch(r"[\x21-\x7e]+", token):
            return f"expected {what}, starting with {prefix} and without spaces (from {where})"
        return None

    return check


def _signing_secret_problem(secret: str) -> str | None:
    where = "Basic Information > App Credentials > Signing Secret"
    if _placeholder(secret):
        return f"still a placeholder: paste the app's signing secret from {where}"
    if re.fullmatch(r"[0-9A-Fa-f]{32}", secret):
        return None
    rule = f"Slack issues signing secrets of 32 hexadecimal characters (0-9, a-f), shown at {where}"
    if len(secret) != 32:
        return f"{rule}; this value has {len(secret)} characters"
    return f"{rule}; this value has 32 characters, but not all of them are 0-9 or a-f"


# What `Settings.require` checks of each credential it is asked for: a problem, or None when it looks right.
_CREDENTIALS: dict[str, Callable[[str], str | None]] = {
    "slack_bot_token": _token_problem("xoxb-", "the Bot User OAuth Token", "OAuth & Permissions"),
    "slack_app_token": _token_problem(
        "xapp-",
        "an app-level token with the connections:write scope",
        "Basic Information > App-Level Tokens",
    ),
    "slack_signing_secret": _signing_secret_problem,
}


def load_settings(**overrides: Any) -> Settings:
    """Every setting from the environment; a problem becomes one `SettingsError` naming every bad variable."""
    return _load(Settings, overrides)


def load_decision_settings(**overrides: Any) -> DecisionSettings:
    """Only the settings deciding needs (`DecisionSettings`); the others are not read, so they cannot stop it."""
    return _load(DecisionSettings, overrides)


def _load(kind: type[_S], overrides: dict[str, Any]) -> _S:
    try:
        return kind(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            conflict = error.get("ctx", {}).get("error")
            if isinstance(conflict, _Conflict):  # found once every setting was read: it names the one to blame
                field = conflict.field
            # Aliased fields report the alias; map either back to the one name docs/configuration.md documents.
            field = next((f for f, alias in _SLACK_NAMES.items() if field in {alias, ENV_PREFIX + alias}), field)
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"setting {env_name(field)}: {message}")
        raise SettingsError("\n".join(lines)) from None
