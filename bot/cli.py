"""The `should-finetune` command line.

Exit codes: 0 success; 1 work left undone (a bulk re-review that failed for some decisions, a digest not sent);
2 bad input (an answers file, a batch line, a usage error); 3 an invalid rule set.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from bot.cli_answers import (
    STDIN,
    InputError,
    ask_answers,
    batch_lines,
    input_label,
    load_document,
    parse_answers_or_fail,
)
from bot.embedded_redis import EmbeddedRedisError
from bot.engine.answers import AnswersError, parse_answers
from bot.engine.documents import DuplicateKeyError, load_json
from bot.engine.report import verdict_report
from bot.engine.ruleset import RuleSet, RuleSetError, load_ruleset
from bot.engine.verdict import Verdict, evaluate
from bot.settings import DecisionSettings, Settings, SettingsError, load_decision_settings, load_settings
from bot.templating import build_environment

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BAD_RULES",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "InputError",
    "ask_answers",
    "load_document",
    "main",
    "render_text",
    "version_text",
]

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_BAD_RULES = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `should-finetune` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Each command reads the settings it uses and no others, so that one it never uses cannot stop it.
    load: Callable[[], DecisionSettings] | None = args.settings
    try:
        settings = load() if load is not None else None
    except SettingsError as exc:
        _print_lines(exc)
        return EXIT_BAD_INPUT
    handler: Callable[[argparse.Namespace, Any], int] = args.handler
    try:
        return handler(args, settings)
    except RuleSetError as exc:
        print(f"should-finetune: the rule set is invalid:\n{exc}", file=sys.stderr)
        return EXIT_BAD_RULES
    except InputError as exc:
        print(f"should-finetune: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SettingsError, EmbeddedRedisError) as exc:
        _print_lines(exc)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `should-finetune evaluate ... | head`
        return EXIT_OK
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


def _print_lines(exc: Exception) -> None:
    for line in str(exc).splitlines():
        print(f"should-finetune: {line}", file=sys.stderr)


def version_text() -> str:
    """The package's version, and the version and sha256 of the rule set the configured settings decide with."""
    try:
        package = importlib.metadata.version("should-finetune")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        package = "(not installed)"
    settings = load_decision_settings()
    ruleset = load_ruleset(settings.rules_dir)
    return f"should-finetune {package}\nrule set {ruleset.version}, sha256 {ruleset.sha256} ({settings.rules_dir})\n"


class _Version(argparse.Action):
    """`--version`: prints `version_text()` and exits, whatever else the command line says."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        try:
            text = version_text()
        except SettingsError as exc:
            _print_lines(exc)
            parser.exit(EXIT_BAD_INPUT)
        except RuleSetError as exc:
            print(f"should-finetune: the rule set is invalid:\n{exc}", file=sys.stderr)
            parser.exit(EXIT_BAD_RULES)
        sys.stdout.write(text)
        parser.exit(EXIT_OK)


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what add_subparsers returns


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="should-finetune",
        description="Decide whether to fine-tune a model, or what cheaper thing to try first.",
    )
    parser.add_argument(
        "--version", action=_Version, help="print the version and the rule set's version and sha256, then exit"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for add in (_add_evaluate, _add_rules, _add_serving, _add_rereview, _add_export, _add_digest, _add_manifest):
        add(commands)
    return parser


def _add_evaluate(commands: _Commands) -> None:
    """`evaluate`: the verdict for answers from a file, standard input, a batch or a terminal."""
    ev = commands.add_parser(
        "evaluate",
        help="the verdict for an answers file",
        description=(
            "Evaluate answers (a JSON or YAML object of facts) against the rule set. With no FILE, answers are "
            "read from standard input, or asked for one by one when it is a terminal."
        ),
    )
    ev.add_argument("file", nargs="?", metavar="FILE", help="answers as JSON or YAML; - for standard input")
    ev.add_argument(
        "--batch", metavar="FILE.jsonl", help="one answers object per line; prints one JSON result per line"
    )
    ev.add_argument(
        "--format",
        choices=("text", "json"),
        default=None,
        help="output format (default: text; json for --batch)",
    )
    ev.add_argument("--no-trace", action="store_true", help="leave the per-rule trace out of JSON output")
    ev.add_argument(
        "--rules-dir",
        type=Path,
        help="rule set to use (default: $SHOULD_FINETUNE_RULES_DIR or the bundled one)",
    )
    ev.set_defaults(handler=_evaluate, settings=load_decision_settings)


def _add_rules(commands: _Commands) -> None:
    """`rules check`: validate a rule set."""
    rules = commands.add_parser("rules", help="work with rule sets").add_subparsers(
        title="rules commands", required=True, metavar="COMMAND"
    )
    check = rules.add_parser("check", help="validate a rule set and print its version, hash and size")
    check.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="default: the configured rule set")
    check.set_defaults(handler=_rules_check, settings=load_decision_settings)


def _add_serving(commands: _Commands) -> None:
    """`serve` and `socket`: the Slack bot over HTTP or over Socket Mode."""
    serve = commands.add_parser(
        "serve",
        help="run the bot over HTTP (/slack/events, /healthz, /readyz)",
        description=(
            "Serve Slack's requests on /slack/events with a production WSGI server. Needs SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET; without REDIS_URL, starts an embedded Redis that keeps its data in "
            "SHOULD_FINETUNE_DATA_DIR."
        ),
    )
    serve.add_argument("--port", type=int, help="port to listen on (default: $SHOULD_FINETUNE_PORT or 3000)")
    serve.add_argument("--host", help="address to listen on (default: $SHOULD_FINETUNE_HOST or 0.0.0.0)")
    serve.set_defaults(handler=_serve, settings=load_settings)

    sock = commands.add_parser(
        "socket",
        help="run the bot over Socket Mode (no public URL needed)",
        description="Connect to Slack over Socket Mode. Needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (xapp-...).",
    )
    sock.set_defaults(handler=_socket, settings=load_settings)


def _add_rereview(commands: _Commands) -> None:
    """`rereview`: re-review a channel's decisions under the rules loaded now."""
    rereview = commands.add_parser(
        "rereview",
        help="re-review a channel's decisions under the rules loaded now",
        description=(
            "Re-review each decision kept for a channel under the rules loaded now: a new version, the verdict "
            "message updated and the result in its thread, paced to Slack's rate limits. A decision already "
            "re-reviewed under these rules (by an earlier or concurrent run) is skipped. Reviewers are mentioned "
            "only where the verdict changed."
        ),
    )
    rereview.add_argument("--channel", required=True, metavar="C", help="the channel id (C…), as in its URL")
    rereview.add_argument("--workspace", metavar="T", help="the workspace id (T…), when the channel id is in several")
    rereview.add_argument(
        "--changed-only",
        action="store_true",
        help="only decisions decided under another rule set than the one loaded now",
    )
    rereview.add_argument("--by", metavar="U", help="your member id (U…), shown as who re-reviewed")
    rereview.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause between two re-reviews (default 1.2: Slack takes about one message a second per channel)",
    )
    rereview.set_defaults(handler=_rereview, settings=load_settings)


def _add_export(commands: _Commands) -> None:
    """`export`: a channel's decisions with every version, as JSON lines or CSV."""
    export = commands.add_parser(
        "export",
        help="write a channel's decisions, every version of each, as JSON lines or CSV",
        description=(
            "Write every decision kept for a channel with all its versions (answers, verdict, next step, rules, rule "
            "set), for a notebook or a BI tool. jsonl: one object per decision, its versions in a list, oldest "
            "decision first. csv: a header, then one row per version, one column per fact; UTF-8 with a byte order "
            "mark, and text that a spreadsheet would run as a formula starts with '. Exits 1 when Redis cannot be "
            "read or the output not written to the end."
        ),
    )
    export.add_argument("--channel", required=True, metavar="C", help="the channel id (C…), as in its URL")
    export.add_argument("--workspace", metavar="T", help="the workspace id (T…), when the channel id is in several")
    export.add_argument(
        "--since",
        metavar="DATE",
        help=(
            "only decisions created at or after DATE, each with all its versions: 2026-11-01 (from 00:00 UTC) or "
            "2026-11-01T09:00+01:00"
        ),
    )
    export.add_argument(
        "--format",
        required=True,
        choices=("jsonl", "csv"),
        help="one JSON object per decision, or CSV with one row per version",
    )
    export.add_argument(
        "--output", metavar="FILE", help="the file to write, replaced if it exists (default: standard output)"
    )
    export.set_defaults(handler=_export, settings=load_settings)


def _add_digest(commands: _Commands) -> None:
    """`digest`: send the weekly digests that are due."""
    digest = commands.add_parser(
        "digest",
        help="send the weekly digests that are due (for cron or a Kubernetes CronJob)",
        description=(
            "Send every channel the digest of the latest period that is due (SHOULD_FINETUNE_DIGEST_WEEKDAY, _TIME "
            "and _TIMEZONE; default Monday 09:00 UTC), unless it was sent already, by this command or by a running "
            "bot: each channel gets one digest per period however many run at once. Exits 1 when a channel's "
            "digest could not be sent (it is tried again on the next run)."
        ),
    )
    digest.add_argument(
        "--at",
        metavar="TIME",
        help="act as if it were TIME (ISO 8601 with a time zone, e.g. 2026-11-23T10:00Z): sends a missed week's digest",
    )
    digest.set_defaults(handler=_digest, settings=load_settings)


def _add_manifest(commands: _Commands) -> None:
    """`manifest`: the Slack app manifest, for HTTP or Socket Mode."""
    manifest = commands.add_parser(
        "manifest",
        help="print the Slack app manifest",
        description="Print a Slack app manifest (JSON) to paste at https://api.slack.com/apps > Create New App.",
    )
    mode = manifest.add_mutually_exclusive_group()
    mode.add_argument("--socket", action="store_true", help="for Socket Mode")
    mode.add_argument("--url", metavar="URL", help="public https:// base URL of `serve` (HTTP mode)")
    manifest.set_defaults(handler=_manifest, settings=None)  # it reads no setting


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serving  # noqa: PLC0415 - Bolt and the server load only for the commands that serve

    if args.port is not None and not 1 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: expected a port number from 1 to 65535")
    serving.configure_logging(settings)
    serving.serve(settings, port=args.port, host=args.host)
    return EXIT_OK


def _socket(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serving  # noqa: PLC0415

    serving.configure_logging(settings)
    serving.socket(settings)
    return EXIT_OK


def _rereview(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serving  # noqa: PLC0415 - Bolt, Redis and the Web API load only for the commands that use them
    from bot.commands import bulk  # noqa: PLC0415
    from bot.runtime import open_services  # noqa: PLC0415
    from bot.store.base import SLACK_ID  # noqa: PLC0415

    for name in ("channel", "workspace", "by"):
        value = getattr(args, name)
        if value is not None and not SLACK_ID.fullmatch(value):
            raise InputError(f"--{name} {value}: expected a Slack id such as C0123ABCD (capital letters and digits)")
    interval = bulk.DEFAULT_INTERVAL if args.interval is None else args.interval
    if not 0 <= interval <= 60:
        raise InputError(f"--interval {interval}: expected seconds from 0 to 60")
    serving.configure_logging(settings)
    with open_services(settings) as services:
        workspaces = [args.workspace] if args.workspace else bulk.find_workspaces(services, args.channel)
        if not workspaces:
            raise InputError(f"no decisions are stored for channel {args.channel}")
        if len(workspaces) > 1:
            raise InputError(
                f"channel {args.channel} is in several workspaces ({', '.join(workspaces)}); add --workspace"
            )
        result = bulk.rereview_channel(
            services,
            workspace=workspaces[0],
            channel=args.channel,
            changed_only=args.changed_only,
            by=args.by or "cli",
            interval=interval,
            progress=print,
        )
    print(
        f"re-reviewed {len(result.reviewed)} ({len(result.changed)} changed); skipped {len(result.current)} under "
        f"the loaded rules, {len(result.already)} already re-reviewed, {len(result.unposted)} never posted; "
        f"failed {len(result.failed)}"
    )
    return EXIT_INCOMPLETE if result.failed else EXIT_OK


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from contextlib import ExitStack  # noqa: PLC0415

    from bot.commands import export  # noqa: PLC0415
    from bot.embedded_redis import EmbeddedRedis  # noqa: PLC0415
    from bot.runtime import open_redis  # noqa: PLC0415
    from bot.store import DecisionStore, StoreUnavailable  # noqa: PLC0415

    export.check_ids(channel=args.channel, workspace=args.workspace)
    since = export.parse_since(args.since) if args.since is not None else None
    try:
        with ExitStack() as stack:  # Redis only: no Slack token is needed
            url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
            if url is None and settings.redis_mode == "standalone":  # the bot's own Redis, as `serve` runs it
                url = stack.enter_context(EmbeddedRedis(settings.data_dir)).url
            client = open_redis(settings, url)
            stack.callback(client.close)
            store = DecisionStore(client, prefix=settings.redis_prefix)
            found = export.read(store, channel=args.channel, workspace=args.workspace, since=since)
    except (SettingsError, EmbeddedRedisError) as exc:  # Redis cannot be reached: not the command line's fault
        _print_lines(exc)
        return EXIT_INCOMPLETE
    except StoreUnavailable as exc:
        print(f"should-finetune: Redis failed while reading the decisions: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    try:
        summary = export.write(found, fmt=args.format, output=args.output)
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = args.output or "standard output"
        print(f"should-finetune: writing {where} failed: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    if args.output is not None:
        print(summary)
    return EXIT_OK


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serving  # noqa: PLC0415
    from bot.digest.runner import Result  # noqa: PLC0415
    from bot.runtime import open_services  # noqa: PLC0415

    now = None
    if args.at is not None:
        try:
            now = datetime.fromisoformat(args.at.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InputError(f"--at {args.at}: expected an ISO 8601 time such as 2026-11-23T10:00Z") from None
        if now.tzinfo is None:
            raise InputError(f"--at {args.at}: give a time zone, such as Z or +01:00")
    serving.configure_logging(settings)
    with open_services(settings) as services:
        report = services.digest.run_due(now)
    for (workspace, channel), sent in sorted(report.channels.items()):
        print(f"{workspace}:{channel}: {sent.result.value}" + (f" ({sent.error})" if sent.error else ""))
    counts = ", ".join(f"{report.count(result)} {result.value}" for result in Result if report.count(result))
    print(f"digest {report.period.key}: {counts or 'nothing due'}")
    return EXIT_INCOMPLETE if report.count(Result.FAILED) or report.count(Result.RETRY) else EXIT_OK


def _manifest(args: argparse.Namespace, settings: None) -> int:
    from bot.manifest import build_manifest  # noqa: PLC0415

    try:
        manifest = build_manifest(socket_mode=args.socket, url=args.url)
    except ValueError as exc:
        raise InputError(f"--url {args.url}: {exc}") from None
    print(json.dumps(manifest, indent=2))
    return EXIT_OK


def _rules_check(args: argparse.Namespace, settings: DecisionSettings) -> int:
    directory = args.directory or settings.rules_dir
    ruleset = load_ruleset(directory)
    decisions = len(ruleset.decision_positions)
    print(
        f"ok: {directory}\n"
        f"version {ruleset.version}\n"
        f"sha256 {ruleset.sha256}\n"
        f"{len(ruleset.rules)} rules ({decisions} decision, {len(ruleset.rules) - decisions} warning)"
    )
    return EXIT_OK


def _evaluate(args: argparse.Namespace, settings: DecisionSettings) -> int:
    ruleset = load_ruleset(args.rules_dir or settings.rules_dir)
    if args.batch is not None:
        if args.file is not None:
            raise InputError("give either FILE or --batch, not both")
        if args.format == "text":
            raise InputError("--batch prints JSON lines; --format text does not apply")
        return _evaluate_batch(ruleset, args.batch, trace=not args.no_trace)

    if args.file is None and sys.stdin is not None and sys.stdin.isatty():
        answers = ask_answers(sys.stdin, sys.stderr)
    else:
        name = STDIN if args.file is None else args.file
        answers = parse_answers_or_fail(load_document(name), name)
    verdict = evaluate(ruleset, answers)
    if args.format == "json":
        json.dump(verdict_report(verdict, trace=not args.no_trace), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(verdict, settings))
    return EXIT_OK


def _evaluate_batch(ruleset: RuleSet, name: str, *, trace: bool) -> int:
    failed = evaluated = 0
    for number, line in batch_lines(name):
        try:
            answers = parse_answers(load_json(line))
        except (json.JSONDecodeError, UnicodeDecodeError, DuplicateKeyError, AnswersError) as exc:
            failed += 1
            if isinstance(exc, json.JSONDecodeError):
                message = f"not valid JSON ({exc.msg} at column {exc.colno})"
            elif isinstance(exc, UnicodeDecodeError):
                message = "not UTF-8 text"
            else:
                message = str(exc)
            print(f"should-finetune: {input_label(name)}, line {number}: {message}", file=sys.stderr)
            print(json.dumps({"line": number, "error": message}, ensure_ascii=False), flush=True)
            continue
        evaluated += 1
        result = {"line": number, **verdict_report(evaluate(ruleset, answers), trace=trace)}
        print(json.dumps(result, ensure_ascii=False))
    if not failed and not evaluated:
        raise InputError(f"{input_label(name)} has no answers: expected one JSON object per line")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def render_text(verdict: Verdict, settings: DecisionSettings) -> str:
    """The verdict as the text report, from templates/cli/verdict.txt.j2."""
    data = verdict_report(verdict, trace=False)
    step = verdict.ruleset.next_steps[verdict.next_step]
    template = build_environment(settings.template_dirs).get_template("cli/verdict.txt.j2")
    return template.render(**data, step=step)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
