"""Log template mining: masking, formats, the miner, its state, rate jumps, the CLI."""

from __future__ import annotations

import csv
import doctest
import io
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triops.core.errors import InvalidInput
from triops.ops import logmining
from triops.ops.logmining import (
    LogFormat,
    MinerConfig,
    RateTracker,
    TemplateMiner,
    _format,
    _masking,
    _miner,
    _rate,
    mask_timestamps,
    mask_token,
    parse_lines,
    read_lines,
    tokenize,
    write_structured,
)

LOGHUB = Path("/work/shared/datasets/loghub2k")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.mark.parametrize("module", [logmining, _format, _masking, _miner, _rate])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.failed == 0


# -- masking -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "key", "shown"),
    [
        ("3579", "<*>", "<*>"),
        ("-24.0,", "<*>,", "<*>,"),
        ("0x1f", "<*>", "<*>"),
        ("[173.234.31.186]", "[<*>]", "[<*>]"),
        ("/10.250.19.102:50010", "/<*>:<*>", "/<*>:<*>"),
        ("10.0.0.1", "<*>", "<*>"),
        ("fe80::1ff:fe23:4567:890a", "<*>", "<*>"),
        ("blk_-1608999687919862906", "blk_<*>", "blk_<*>"),
        ("(uid=0)", "(uid=<*>)", "(uid=<*>)"),
        ("appattempt_1445144423722_0020_000001", "appattempt_<*>", "appattempt_<*>"),
        ("/var/log/app-2016.log", "<*>", "<*>"),
        ("6005-08b4-0001-00c6-0006-3000-003d-0000", "<*>", "<*>"),
        ("1514038440000##7007##548365", "<*>", "<*>"),
        ("ssh2", "<?>", "ssh2"),
        ("R02-M1-N0-C:J12-U11", "<?>", "R02-M1-N0-C:J12-U11"),
        ("starting", "starting", "starting"),
        ("user=root", "user=root", "user=root"),
        ("mask=ffffffff", "mask=<*>", "mask=<*>"),
        ("steps1514038440|3786|0", "<?>", "steps1514038440|3786|0"),
    ],
)
def test_mask_token(token, key, shown):
    assert mask_token(token) == (key, shown)


def test_masking_set_is_configurable():
    assert mask_token("ssh2", digit_words=False) == ("ssh2", "ssh2")
    assert mask_token("blk_42", digit_words=False) == ("blk_<*>", "blk_<*>")
    plain = TemplateMiner(MinerConfig(digit_words=False, timestamps=False))
    a = plain.add("session opened at 12:00:01 on tty1")
    b = plain.add("session opened at 12:00:02 on tty2")
    assert a.template_id != b.template_id
    masked = TemplateMiner()
    a = masked.add("session opened at 12:00:01 on tty1")
    b = masked.add("session opened at 12:00:02 on tty2")
    assert a.template_id == b.template_id


def test_timestamps_spanning_tokens_become_one_variable():
    assert mask_timestamps("at Sun Jul  3 23:16:09 2005 done") == "at <*> done"
    assert mask_timestamps("since 2015-10-18 18:01:47,978") == "since <*>"
    assert mask_timestamps("took 12:00:01") == "took <*>"
    assert mask_timestamps("no digits here") == "no digits here"


def test_tokenize_splits_inner_commas_and_keeps_glue():
    assert tokenize("a=1,b=2, c") == (["a=1,", "b=2,", "c"], ["", " ", " "])
    assert tokenize("") == ([], [])


# -- format strings ----------------------------------------------------------------


def test_format_builds_loghub_regex():
    fmt = LogFormat.parse(r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>")
    assert fmt.headers == ("Date", "Time", "Level", "Node", "Component", "Id", "Content")
    line = "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200"
    fields = fmt.split(line)
    assert fields["Level"] == "INFO"
    assert fields["Id"] == "774"
    assert fields["Content"] == "Notification time out: 3200"


def test_format_optional_group_gives_empty_field():
    fmt = LogFormat.parse(r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>")
    fields = fmt.split("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
    assert fields["PID"] == "19939" and fields["Content"] == "check pass; user unknown"
    fields = fmt.split("Jun 15 04:06:18 combo su: session opened")
    assert fields["PID"] == "" and fields["Component"] == "su"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<Date> <Time>", "no <Content>"),
        ("<Date> [<Content>", "not a valid regular expression"),
        ("", "empty"),
        ("<Date> <Date> <Content>", "twice"),
        ("<Da te> <Content>", "not a valid name"),
    ],
)
def test_bad_formats_are_invalid_input(text, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        LogFormat.parse(text)


def test_unmatched_lines_are_kept_whole_as_content():
    fmt = LogFormat.parse("<Level>: <Content>")
    parsed = parse_lines(
        ["INFO: started 1", "garbage without colon", "INFO: started 2"], fmt, TemplateMiner()
    )
    assert parsed.stats.lines == 3 and parsed.stats.unmatched == 1
    assert parsed.fields[1] == ("", "garbage without colon")
    assert parsed.template_ids[0] == parsed.template_ids[2] != parsed.template_ids[1]


# -- the miner ---------------------------------------------------------------------


def test_new_template_flag_and_variables():
    miner = TemplateMiner()
    first = miner.add(
        "Receiving block blk_-1608 src: /10.250.19.102:54106 dest: /10.250.19.102:50010"
    )
    again = miner.add("Receiving block blk_7503 src: /10.250.10.6:40524 dest: /10.250.10.6:50010")
    other = miner.add("Deleting block blk_7503 file /mnt/hadoop/dfs/data/current/subdir1/blk_7503")
    assert first.is_new and not again.is_new and other.is_new
    assert first.template_id == again.template_id != other.template_id
    assert again.template == "Receiving block blk_<*> src: /<*>:<*> dest: /<*>:<*>"


def test_two_values_stay_apart_a_third_proves_a_variable():
    miner = TemplateMiner()
    root = miner.add("Failed password for root from 1.2.3.4 port 22 ssh2").template_id
    admin = miner.add("Failed password for admin from 1.2.3.5 port 23 ssh2").template_id
    assert root != admin
    third = miner.add("Failed password for guest from 1.2.3.6 port 24 ssh2")
    assert third.template_id == root and third.merged == (admin,)
    assert third.template == "Failed password for <*> from <*> port <*> ssh2"
    assert miner.resolve(admin) == root
    assert miner.template(admin).count == 3
    assert miner.add("Failed password for nobody from 1.2.3.7 port 25 ssh2").template_id == root


def test_first_token_needs_prefix_factor_times_the_evidence():
    config = MinerConfig()
    needed = config.distinct * config.prefix_factor
    programs = [f"tool{chr(ord('a') + k)}" for k in range(needed)]
    miner = TemplateMiner(config)
    ids = [
        miner.add(
            f"{p}.exe - proxy.example.org:5070 open through proxy 10.0.0.1:8080 HTTPS"
        ).template_id
        for p in programs
    ]
    assert len(set(ids[:-1])) == needed - 1
    assert {miner.resolve(i) for i in ids} == {ids[0]}
    assert miner.template(ids[0]).text.startswith("<*> - ")


def test_two_words_at_one_position_stay_two_events():
    miner = TemplateMiner()
    ids = {miner.add(f"interactive {flag} now").template_id for flag in ("true", "false")}
    assert len(ids) == 2


def test_content_is_truncated_for_mining():
    miner = TemplateMiner(MinerConfig(max_content_chars=100))
    a = miner.add("x " * 1_000_000)
    b = miner.add("x " * 60)
    assert a.template_id == b.template_id


def test_state_round_trip_keeps_ids_stable():
    miner = TemplateMiner()
    lines = [
        "Failed password for root from 1.2.3.4 port 22 ssh2",
        "Failed password for admin from 1.2.3.5 port 23 ssh2",
        "Connection closed by 1.2.3.4 [preauth]",
        "Failed password for guest from 1.2.3.6 port 24 ssh2",
    ]
    before = [miner.add(line).template_id for line in lines]
    state = json.loads(json.dumps(miner.to_state()))
    restored = TemplateMiner.from_state(state)
    assert [t.text for t in restored.templates] == [t.text for t in miner.templates]
    assert restored.resolve(before[1]) == miner.resolve(before[1])
    for line in lines:
        m = restored.add(line)
        assert not m.is_new
        assert m.template_id == miner.resolve(miner.add(line).template_id)
    fresh = restored.add("Server listening on 0.0.0.0 port 22.")
    assert fresh.is_new and fresh.template_id > max(before)


@pytest.mark.parametrize(
    "state", [{"version": 99}, {"version": 1, "templates": [{"id": "x"}]}, {"version": 1}]
)
def test_bad_state_is_invalid_input(state):
    with pytest.raises(InvalidInput):
        TemplateMiner.from_state(state)


# -- rate jumps --------------------------------------------------------------------


def test_rate_jump_is_flagged_only_for_the_template_that_jumps():
    tracker = RateTracker(window=60.0, warmup=3)
    jumps = []
    for minute in range(10):
        t = minute * 60.0
        for _ in range(5):
            jumps += tracker.observe(1, t)
        for _ in range(3 if minute < 9 else 60):
            jumps += tracker.observe(2, t)
    jumps += tracker.flush()
    assert [(j.template_id, j.count) for j in jumps] == [(2, 60)]
    assert jumps[0].window_start == 540.0 and 2.5 < jumps[0].baseline < 3.5


def test_rate_jump_needs_history():
    tracker = RateTracker(window=1.0, warmup=5)
    for _ in range(100):
        tracker.observe(1, 0.0)
    assert tracker.flush() == []


# -- files and the CLI -------------------------------------------------------------


def test_read_lines_replaces_and_counts_invalid_utf8():
    stats = logmining.ParseStats()
    data = b"ok line\r\nbad \xff\xfe byte\nlast"
    assert list(read_lines(io.BytesIO(data), stats)) == ["ok line", "bad \ufffd\ufffd byte", "last"]
    assert stats.invalid_utf8_lines == 1


def _run_cli(*args):
    from triops.cli.ops_logs import app

    return CliRunner().invoke(app, ["parse", *args])


def test_cli_writes_loghub_columns_and_state(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(
        b"2024-01-01 10:00:00 INFO db: connected to 10.0.0.1 in 12 ms\n"
        b"2024-01-01 10:00:01 INFO db: connected to 10.0.0.2 in 7 ms\n"
        b"not matching \xff\n"
        + b"2024-01-01 10:00:02 WARN db: slow query "
        + b"q" * 1_000_000
        + b"\n"
    )
    out, state = tmp_path / "out.csv", tmp_path / "state.json"
    result = _run_cli("--input", str(log), "--log-format", "<Date> <Time> <Level> <Component>: <Content>",
                      "--output", str(out), "--state", str(state))  # fmt: skip
    assert result.exit_code == 0, result.output
    csv.field_size_limit(10_000_000)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == [
        "LineId",
        "Date",
        "Time",
        "Level",
        "Component",
        "Content",
        "EventId",
        "EventTemplate",
    ]
    assert [r["LineId"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["EventId"] == rows[1]["EventId"] == "E1"
    assert rows[0]["EventTemplate"] == "connected to <*> in <*> ms"
    assert rows[2]["Content"] == "not matching \ufffd" and rows[2]["Date"] == ""
    assert len(rows[3]["Content"]) > 1_000_000
    saved = json.loads(state.read_text())
    assert TemplateMiner.from_state(saved).resolve(1) == 1
    again = _run_cli("--input", str(log), "--log-format", "<Date> <Time> <Level> <Component>: <Content>",
                     "--output", str(out), "--state", str(state))  # fmt: skip
    assert again.exit_code == 0 and "(0 new)" in again.output


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [("<Date> <Time>", "no <Content>"), ("<Date> [<Content>", "not a valid regular expression")],
)
def test_cli_bad_format_is_one_clear_line(tmp_path, fmt, fragment):
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = _run_cli("--input", str(log), "--log-format", fmt, "--output", str(tmp_path / "o.csv"))
    assert result.exit_code != 0
    assert fragment in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0


def test_cli_empty_and_missing_input(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    out = tmp_path / "o.csv"
    assert (
        _run_cli("--input", str(empty), "--log-format", "<Content>", "--output", str(out)).exit_code
        == 0
    )
    assert out.read_text() == "LineId,Content,EventId,EventTemplate\n"
    missing = _run_cli(
        "--input", str(tmp_path / "nope.log"), "--log-format", "<Content>", "--output", str(out)
    )
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_write_structured_uses_final_ids_after_merges():
    fmt = LogFormat.parse("<Content>")
    miner = TemplateMiner()
    lines = [
        f"Failed password for {u} from 1.2.3.4 port 22 ssh2" for u in ("root", "admin", "guest")
    ]
    parsed = parse_lines(lines, fmt, miner)
    out = io.StringIO()
    write_structured(parsed, miner, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["EventId"] for r in rows} == {"E1"}


# -- accuracy on Loghub ------------------------------------------------------------


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="Loghub-2k samples not present")
@pytest.mark.parametrize(("system", "floor"), [("OpenSSH", 0.95), ("HDFS", 0.99), ("Linux", 0.80)])
def test_grouping_accuracy_on_loghub(system, floor):
    import loghub

    contents, truth_ids, _ = loghub.load_system(LOGHUB / system, system, "original")
    ids, _ = loghub.triops_parser(contents)
    assert loghub.grouping_accuracy(truth_ids, ids) >= floor


def test_grouping_accuracy_matches_logparser_definition():
    import loghub

    truth = ["A", "A", "B", "B", "C"]
    assert loghub.grouping_accuracy(truth, [1, 1, 2, 2, 3]) == 1.0
    assert loghub.grouping_accuracy(truth, [1, 1, 2, 2, 2]) == 0.4
    assert loghub.grouping_accuracy(truth, [1, 2, 3, 3, 4]) == 0.6
    assert loghub.grouping_accuracy(truth, [1, 2, 3, 4, 5]) == 0.2
    assert loghub.normalise_template("a  <*><*> <:NUM:> ") == "a <*> <*>"


def test_state_with_settings_this_miner_no_longer_has_still_loads():
    miner = TemplateMiner()
    tid = miner.add("Connection closed by 1.2.3.4 [preauth]").template_id
    state = miner.to_state()
    state["config"]["lead_context"] = 3
    restored = TemplateMiner.from_state(state)
    assert restored.add("Connection closed by 1.2.3.9 [preauth]").template_id == tid


def test_loso_chooses_each_fold_on_the_other_systems_only():
    import loghub

    scores = {
        ("fits-one",): {"S1": (1.0, 0.0), "S2": (0.5, 0.0), "S3": (0.5, 0.0)},
        ("general",): {"S1": (0.6, 0.0), "S2": (0.6, 0.0), "S3": (0.6, 0.0)},
    }
    ga, _, folds = loghub.loso(scores, ["S1", "S2", "S3"])
    assert folds["S1"][0] == ("general",) and folds["S2"][0] == ("fits-one",)
    assert ga == pytest.approx((0.6 + 0.5 + 0.5) / 3)


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="Loghub-2k samples not present")
def test_mean_grouping_accuracy_over_every_given_system():
    import loghub

    systems = [s for s in loghub.SYSTEMS if (LOGHUB / s).is_dir()]
    total = 0.0
    for system in systems:
        contents, truth_ids, _ = loghub.load_system(LOGHUB / system, system, "original")
        ids, _ = loghub.triops_parser(contents)
        total += loghub.grouping_accuracy(truth_ids, ids)
    assert total / len(systems) >= 0.95
