"""`should-finetune export`: a channel's decisions with every version, as JSON lines or CSV, through `bot.cli.main`
against a real Redis; the decisions are made under the tests' own rule set and written through the store."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK, main
from bot.commands.export import cell
from bot.decisions import new_version
from bot.engine.answers import FACTS, Answers
from bot.engine.verdict import evaluate
from bot.store import (
    Decision,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    NewVersion,
    StoreUnavailable,
    Trigger,
)
from tests import fixture_rules
from tests.store_support import append_version

T, C = "T0EXPORT", "C0EXPORT"
REQUESTER, REVIEWER = "U0ASKER", "U0REVIEWER"
DAY = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
UNICODE = "Tri des tickets — 日本語 ✓ 🚀 «naïve»"
NOTES = 'line one\nline two, with a comma and "quotes"\u2028after a line separator'
BOM = "\ufeff"

# The CSV's columns, pinned: what a notebook or a BI tool reads them by.
EXPECTED_COLUMNS = [
    "decision_id",
    "workspace",
    "channel",
    "requester",
    "created_at",
    "source",
    "delivery_status",
    "delivery_channel",
    "delivery_ts",
    "delivery_error",
    "delivery_at",
    "version",
    "version_at",
    "by",
    "trigger",
    *FACTS,
    "verdict",
    "next_step",
    "decided_by",
    "fired",
    "ruleset_version",
    "ruleset_sha256",
]


@pytest.fixture(autouse=True)
def environment(redis_url: str, key_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's Redis and key prefix, the tests' own rules, no Slack setting at all (export needs none) and a
    working directory without a stray .env file."""
    for name in list(os.environ):
        if name.startswith(("SHOULD_FINETUNE_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SHOULD_FINETUNE_REDIS_PREFIX", key_prefix)
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(fixture_rules.DIRECTORY))
    monkeypatch.setenv("SHOULD_FINETUNE_DATA_DIR", str(tmp_path / "data"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def version(
    answers: dict[str, Any],
    *,
    by: str = REQUESTER,
    trigger: Trigger = Trigger.SUBMIT,
    raw: dict[str, Any] | None = None,
) -> NewVersion:
    """The version the bot records for `answers` under the fixture rules; with `raw`, stored with those answers
    instead (text the form would have trimmed, as an older bot may have kept it)."""
    made = new_version(evaluate(fixture_rules.ruleset(), Answers.model_validate(answers)), by=by, trigger=trigger)
    return made if raw is None else made.model_copy(update={"answers": raw})


def decide(
    store: DecisionStore,
    answers: dict[str, Any],
    *,
    at: datetime = DAY,
    channel: str = C,
    workspace: str = T,
    raw: dict[str, Any] | None = None,
) -> Decision:
    return store.create_decision(
        workspace=workspace, channel=channel, requester=REQUESTER, version=version(answers, raw=raw), now=at
    )


def revise(
    store: DecisionStore, decision: Decision, answers: dict[str, Any], *, trigger: Trigger, at: datetime
) -> None:
    append_version(
        store,
        workspace=decision.workspace,
        channel=decision.channel,
        decision_id=decision.id,
        version=version(answers, by=REVIEWER, trigger=trigger),
        now=at,
    )


def reload(store: DecisionStore, decision: Decision) -> Decision:
    found = store.decision(workspace=decision.workspace, channel=decision.channel, decision_id=decision.id)
    assert found is not None
    return found


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["export", *(str(arg) for arg in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "--channel", C, "--format", "jsonl", *argv)
    assert (code, err) == (EXIT_OK, "")
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.split("\n")[:-1]]


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith(BOM)
    reader = csv.DictReader(io.StringIO(text.removeprefix(BOM), newline=""))
    assert reader.fieldnames == EXPECTED_COLUMNS
    return list(reader)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture
def history(store: DecisionStore) -> list[Decision]:
    """Three decisions in the channel, out of creation order: one with three versions (submitted, edited, re-reviewed)
    whose verdict was posted, one with unicode and multi-line notes, one whose post failed; and one in another
    channel."""
    later = decide(store, {"use_case": UNICODE, "notes": NOTES, "n_stable_examples": 600}, at=DAY + timedelta(hours=2))
    first = decide(store, {"use_case": "ticket triage", "n_stable_examples": 12, "tried_rag": False}, at=DAY)
    revise(store, first, {"use_case": "ticket triage", "n_stable_examples": 120}, trigger=Trigger.EDIT, at=DAY)
    revise(
        store,
        first,
        {"use_case": "ticket triage", "n_stable_examples": 120, "needs_citations": True},
        trigger=Trigger.RE_REVIEW,
        at=DAY + timedelta(days=3),
    )
    posted = Delivery(status=DeliveryStatus.POSTED, channel=C, ts="1793611800.000100", at=DAY)
    store.record_delivery(workspace=T, channel=C, decision_id=first.id, delivery=posted)
    failed = decide(store, {"primary_failure": "format"}, at=DAY + timedelta(hours=1))
    refused = Delivery(status=DeliveryStatus.FAILED, error="not_in_channel", at=DAY + timedelta(hours=1))
    store.record_delivery(workspace=T, channel=C, decision_id=failed.id, delivery=refused)
    decide(store, {"use_case": "elsewhere"}, channel="C0OTHER")
    return [reload(store, decision) for decision in (first, failed, later)]


# --- JSON lines ----------------------------------------------------------------------------------------------------


def test_jsonl_is_one_object_per_decision_with_every_version_oldest_first(
    capsys: pytest.CaptureFixture[str], history: list[Decision]
) -> None:
    objects = jsonl(capsys)
    assert [o["decision_id"] for o in objects] == [decision.id for decision in history]
    ruleset = fixture_rules.ruleset()
    for got, decision in zip(objects, history, strict=True):
        assert (got["workspace"], got["channel"], got["requester"]) == (T, C, REQUESTER)
        assert got["created_at"] == iso(decision.created_at)
        assert got["source"] is None  # asked with the form, not about a message
        assert [v["version"] for v in got["versions"]] == [v.number for v in decision.versions]
        for shown, stored in zip(got["versions"], decision.versions, strict=True):
            assert shown["answers"] == stored.answers  # intact, unicode included
            assert (shown["at"], shown["by"], shown["trigger"]) == (iso(stored.at), stored.by, stored.trigger.value)
            assert (shown["verdict"], shown["next_step"]) == (stored.verdict, stored.next_step)
            assert (shown["decided_by"], shown["fired"]) == (stored.decided_by, stored.fired)
            assert (shown["ruleset_version"], shown["ruleset_sha256"]) == (ruleset.version, ruleset.sha256)
    first, failed, later = objects
    assert [v["trigger"] for v in first["versions"]] == ["submit", "edit", "re-review"]
    assert [v["by"] for v in first["versions"]] == [REQUESTER, REVIEWER, REVIEWER]
    assert first["versions"][2]["decided_by"] == "citations-required"
    assert first["delivery"] == {
        "status": "posted",
        "channel": C,
        "ts": "1793611800.000100",
        "error": None,
        "at": iso(DAY),
    }
    assert failed["delivery"] == {
        "status": "failed",
        "channel": None,
        "ts": None,
        "error": "not_in_channel",
        "at": iso(DAY + timedelta(hours=1)),
    }
    assert later["delivery"]["status"] == "pending"
    assert later["versions"][0]["answers"] == {"use_case": UNICODE, "n_stable_examples": 600, "notes": NOTES}
    assert list(later["versions"][0]["answers"]) == ["use_case", "n_stable_examples", "notes"]  # the facts' order


def test_a_decision_asked_about_a_message_carries_the_messages_link(
    capsys: pytest.CaptureFixture[str], store: DecisionStore
) -> None:
    link = "https://acme.slack.com/archives/C0EXPORT/p1793611800000100"
    store.create_decision(
        workspace=T, channel=C, requester=REQUESTER, version=version({"n_stable_examples": 12}), now=DAY, source=link
    )
    (exported,) = jsonl(capsys)
    assert exported["source"] == link
    code, out, _ = run(capsys, "--channel", C, "--format", "csv")
    assert code == EXIT_OK
    (row,) = csv.DictReader(io.StringIO(out.removeprefix(BOM)))
    assert row["source"] == link


def test_jsonl_is_utf8_and_no_line_separator_splits_an_object(
    capsys: pytest.CaptureFixture[str], history: list[Decision]
) -> None:
    code = main(["export", "--channel", C, "--format", "jsonl"])
    raw = capsys.readouterr().out
    assert code == EXIT_OK
    assert UNICODE in raw  # written as is, not as \u escapes
    assert "\u2028" not in raw
    assert "\\u2028" in raw
    assert len(raw.splitlines()) == len(history)


# --- CSV -----------------------------------------------------------------------------------------------------------


def test_csv_is_one_row_per_version_to_a_file_with_a_bom(
    capsys: pytest.CaptureFixture[str], history: list[Decision], tmp_path: Path
) -> None:
    target = tmp_path / "export.csv"
    code, out, err = run(capsys, "--channel", C, "--format", "csv", "--output", target)
    assert (code, err) == (EXIT_OK, "")
    assert out == f"exported 3 decisions (5 versions) of {T}:{C} to {target}\n"
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 6  # RFC 4180 line ends: the header and five rows (the notes' own stay \n)
    rows = csv_rows(data.decode("utf-8"))
    expected = [(d.id, str(v.number)) for d in history for v in d.versions]
    assert [(row["decision_id"], row["version"]) for row in rows] == expected
    first_rows = [row for row in rows if row["decision_id"] == history[0].id]
    assert len(first_rows) == 3
    assert [row["trigger"] for row in first_rows] == ["submit", "edit", "re-review"]
    assert [row["n_stable_examples"] for row in first_rows] == ["12", "120", "120"]
    assert [row["tried_rag"] for row in first_rows] == ["false", "", ""]
    assert [row["needs_citations"] for row in first_rows] == ["", "", "true"]
    assert first_rows[2]["decided_by"] == "citations-required"
    assert first_rows[0]["fired"] == ";".join(history[0].versions[0].fired)
    assert {row["delivery_ts"] for row in first_rows} == {"1793611800.000100"}
    assert first_rows[0]["delivery_at"] == iso(DAY)
    ruleset = fixture_rules.ruleset()
    assert {(row["ruleset_version"], row["ruleset_sha256"]) for row in rows} == {(ruleset.version, ruleset.sha256)}
    later = rows[-1]
    assert (later["use_case"], later["notes"]) == (UNICODE, NOTES)  # unicode and line breaks intact
    assert (later["delivery_status"], later["delivery_ts"], later["primary_failure"]) == ("pending", "", "")
    assert rows[3]["delivery_error"] == "not_in_channel"
    assert rows[3]["primary_failure"] == "format"


def test_csv_to_standard_output_has_the_bom_and_nothing_else(
    capsys: pytest.CaptureFixture[str], history: list[Decision]
) -> None:
    code, out, err = run(capsys, "--channel", C, "--format", "csv")
    assert (code, err) == (EXIT_OK, "")
    assert len(csv_rows(out)) == 5


HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+1", "-2+3", "@SUM(A1)", "\tleading tab", "\rcarriage"]


def test_csv_cells_that_a_spreadsheet_would_run_start_with_an_apostrophe(
    capsys: pytest.CaptureFixture[str], store: DecisionStore
) -> None:
    for hour, text in enumerate(HOSTILE):
        raw = {"use_case": text, "notes": text, "n_stable_examples": 0, "prompt_authors": 3}
        decide(store, {"n_stable_examples": 0, "prompt_authors": 3}, at=DAY + timedelta(hours=hour), raw=raw)
    decide(store, {"use_case": "a = b + c", "n_stable_examples": 7}, at=DAY + timedelta(days=1))
    code, out, err = run(capsys, "--channel", C, "--format", "csv")
    assert (code, err) == (EXIT_OK, "")
    rows = csv_rows(out)
    assert [row["use_case"] for row in rows] == [f"'{text}" for text in HOSTILE] + ["a = b + c"]
    assert [row["notes"] for row in rows[:-1]] == [f"'{text}" for text in HOSTILE]
    # Numbers the bot writes stay numbers: never prefixed.
    assert [row["n_stable_examples"] for row in rows] == ["0"] * len(HOSTILE) + ["7"]
    assert {row["prompt_authors"] for row in rows[:-1]} == {"3"}
    assert {row["version"] for row in rows} == {"1"}
    # The JSON lines keep the text as it was written.
    assert [o["versions"][0]["answers"]["use_case"] for o in jsonl(capsys)][:-1] == HOSTILE


def test_a_cell_is_a_number_a_word_or_guarded_text() -> None:
    assert (cell(0), cell(-3), cell(2.5)) == (0, -3, 2.5)
    assert (cell(True), cell(False), cell(None)) == ("true", "false", "")
    assert (cell(["-a", "b"]), cell(["a", "b"]), cell("'already")) == ("'-a;b", "a;b", "'already")


# --- --since -------------------------------------------------------------------------------------------------------


def test_since_keeps_decisions_created_at_or_after_it(capsys: pytest.CaptureFixture[str], store: DecisionStore) -> None:
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    before = decide(store, {"use_case": "before"}, at=midnight - timedelta(seconds=1))
    revise(store, before, {"use_case": "before", "n_stable_examples": 50}, trigger=Trigger.EDIT, at=DAY)
    at = decide(store, {"use_case": "at midnight"}, at=midnight)
    after = decide(store, {"use_case": "after"}, at=midnight + timedelta(seconds=1))
    for since, expected in [
        ("2026-11-01", [at, after]),  # a date: midnight UTC
        ("2026-11-01T01:00+01:00", [at, after]),
        ("2026-11-01T00:00:00Z", [at, after]),
        ("2026-11-01T00:00:01z", [after]),
        ("2026-10-31T23:59:59Z", [before, at, after]),
        ("2026-11-02", []),  # `before` has a version that day, but was created earlier
    ]:
        assert [o["decision_id"] for o in jsonl(capsys, "--since", since)] == [d.id for d in expected], since


# --- workspaces, empty channels ------------------------------------------------------------------------------------


def test_a_channel_id_in_several_workspaces_needs_workspace(
    capsys: pytest.CaptureFixture[str], store: DecisionStore
) -> None:
    decide(store, {"use_case": "one"}, workspace="T0ONE")
    two = decide(store, {"use_case": "two"}, workspace="T0TWO")
    code, out, err = run(capsys, "--channel", C, "--format", "jsonl")
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == f"should-finetune: channel {C} is in several workspaces (T0ONE, T0TWO); add --workspace\n"
    assert [o["decision_id"] for o in jsonl(capsys, "--workspace", "T0TWO")] == [two.id]
    code, out, err = run(capsys, "--channel", C, "--workspace", "T0THREE", "--format", "csv")
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert err == f"should-finetune: no decisions are stored for channel {C} in workspace T0THREE\n"


def test_an_empty_channel_gives_a_header_or_nothing_and_exits_0(
    capsys: pytest.CaptureFixture[str], store: DecisionStore, tmp_path: Path
) -> None:
    store.add_channel(workspace=T, channel=C)  # listed (the digest switched on), with no decision yet
    code, out, err = run(capsys, "--channel", C, "--format", "csv")
    assert (code, err) == (EXIT_OK, "")
    assert out == BOM + ",".join(EXPECTED_COLUMNS) + "\r\n"
    assert jsonl(capsys) == []
    target = tmp_path / "empty.jsonl"
    code, out, err = run(capsys, "--channel", C, "--format", "jsonl", "--output", target)
    assert (code, out, err) == (EXIT_OK, f"exported 0 decisions (0 versions) of {T}:{C} to {target}\n", "")
    assert target.read_bytes() == b""


def test_since_after_every_decision_is_an_empty_export(
    capsys: pytest.CaptureFixture[str], history: list[Decision]
) -> None:
    code, out, err = run(capsys, "--channel", C, "--format", "csv", "--since", "2099-01-01")
    assert (code, err) == (EXIT_OK, "")
    assert csv_rows(out) == []


# --- errors --------------------------------------------------------------------------------------------------------


def one_line_error(err: str) -> str:
    assert err.startswith("should-finetune: ")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--channel", "C0NOTHING"], "no decisions are stored for channel C0NOTHING"),
        (["--channel", "not a channel"], "--channel not a channel: expected a Slack id"),
        (["--channel", C, "--workspace", "t0lower"], "--workspace t0lower: expected a Slack id"),
        (["--channel", C, "--since", "last week"], "--since last week: expected an ISO 8601 date"),
        (["--channel", C, "--since", "2026-11-01T09:00"], "--since 2026-11-01T09:00: give a time zone"),
        (["--channel", C, "--output", "missing/dir/out.csv"], "--output missing/dir/out.csv: cannot write it"),
        (["--channel", C, "--output", "."], "--output .: cannot write it: Is a directory"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], history: list[Decision], argv: list[str], expected: str
) -> None:
    code, out, err = run(capsys, "--format", "csv", *argv)
    assert (code, out) == (EXIT_BAD_INPUT, "")
    assert expected in one_line_error(err)


def test_redis_out_of_reach_exits_1_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    target = tmp_path / "kept.csv"
    target.write_text("an earlier export\n", encoding="utf-8")
    code, out, err = run(capsys, "--channel", C, "--format", "csv", "--output", target)
    assert (code, out) == (EXIT_INCOMPLETE, "")
    assert "setting REDIS_URL: cannot reach Redis at redis://127.0.0.1:1/0" in one_line_error(err)
    assert target.read_text(encoding="utf-8") == "an earlier export\n"  # not replaced by nothing


def test_redis_failing_while_reading_exits_1(
    capsys: pytest.CaptureFixture[str], history: list[Decision], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> list[Decision]:
        raise StoreUnavailable("ConnectionError: Connection reset by peer", kind="ConnectionError")

    monkeypatch.setattr(DecisionStore, "decisions_between", unavailable)
    code, out, err = run(capsys, "--channel", C, "--format", "jsonl")
    assert (code, out) == (EXIT_INCOMPLETE, "")
    assert one_line_error(err) == (
        "should-finetune: Redis failed while reading the decisions: ConnectionError: Connection reset by peer\n"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_write_that_fails_exits_1(capsys: pytest.CaptureFixture[str], history: list[Decision]) -> None:
    code, out, err = run(capsys, "--channel", C, "--format", "csv", "--output", "/dev/full")
    assert (code, out) == (EXIT_INCOMPLETE, "")
    assert one_line_error(err) == "should-finetune: writing /dev/full failed: No space left on device\n"


def test_format_is_required_and_help_says_what_since_means(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export", "--channel", C])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "--format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["export", "--help"])
    assert exited.value.code == EXIT_OK
    assert "created at or after DATE" in " ".join(capsys.readouterr().out.split())
