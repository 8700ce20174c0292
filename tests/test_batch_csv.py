"""The batch CSV: reading a list of releases, naming every bad row by line number,
and writing the summary."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from core.batch import BatchItem, ItemState
from core.batch_csv import (
    SUMMARY_COLUMNS,
    BatchCsvError,
    RowProblem,
    items_to_csv,
    parse_batch_csv,
    read_batch_csv,
    write_summary_csv,
)
from core.errors import InputError
from core.models import LearnerAccess, ReleaseMode

GOOD = """\
# Re-release after the theme change
project_code,release_code,release_mode,description,learner_access,lrs_endpoint_url,lrs_username

5dd580064b0b7,63da38278cd2f,scorm,"Theme 2026, legal text",any,https://lrs.example/xapi/,lrs-user
5e5cce5d0c80a,65686ecef37fa,,,,,
  # an indented comment
60c8adc699cf4,60dd843da8db9,online-private,Café été,restricted,,
"""


def problems_of(text: str) -> list[RowProblem]:
    with pytest.raises(BatchCsvError) as raised:
        parse_batch_csv(text)
    return raised.value.problems


def test_reads_rows_and_optional_columns() -> None:
    parsed = parse_batch_csv(GOOD)

    assert [item.release_code for item in parsed.items] == [
        "63da38278cd2f",
        "65686ecef37fa",
        "60dd843da8db9",
    ]
    first, second, third = parsed.items
    assert first.project_code == "5dd580064b0b7"
    assert first.release_mode is ReleaseMode.SCORM
    assert first.description == "Theme 2026, legal text"
    assert first.learner_access is LearnerAccess.ANY
    assert first.lrs_endpoint_url == "https://lrs.example/xapi/"
    assert first.lrs_username == "lrs-user"
    assert first.line == 4
    assert second.release_mode is None
    assert second.description is None
    assert second.learner_access is None
    assert second.lrs_endpoint_url is None
    assert second.line == 5
    assert third.description == "Café été"
    assert third.learner_access is LearnerAccess.RESTRICTED
    assert third.line == 7
    assert parsed.warnings == []


def test_header_order_and_byte_order_mark() -> None:
    parsed = parse_batch_csv("\ufeffRelease_Code , project_code\nr1,p1\r\nr2,p2\r\n")
    assert [(item.project_code, item.release_code) for item in parsed.items] == [
        ("p1", "r1"),
        ("p2", "r2"),
    ]


def test_bad_rows_are_named_by_line() -> None:
    text = (
        "project_code,release_code,release_mode,learner_access,lrs_endpoint_url\n"
        "p1,r1,scorm,,\n"
        ",r2,scorm,,\n"
        "# a comment line keeps its number\n"
        "p 3,r3,,,\n"
        "p4,r 4,,,\n"
        "p5,r5,zip,,\n"
        "p6,r6,,everyone,\n"
        "p7,r7,,,ftp://lrs.example/\n"
        "p8,r1,,,\n"
        "p9,,,,\n"
    )
    found = problems_of(text)

    assert [problem.line for problem in found] == [3, 5, 6, 7, 8, 9, 10, 11]
    texts = [problem.text for problem in found]
    assert texts[0] == "missing project code."
    assert "project code 'p 3' contains a space" in texts[1]
    assert "release code 'r 4' contains a space" in texts[2]
    assert "unknown release mode 'zip'" in texts[3]
    assert "unknown learner access 'everyone'" in texts[4]
    assert "invalid LRS endpoint URL" in texts[5]
    assert "duplicate release code r1 (first on line 2)" in texts[6]
    assert texts[7] == "missing release code."


def test_error_text_lists_every_problem() -> None:
    with pytest.raises(BatchCsvError) as raised:
        parse_batch_csv("project_code,release_code\n,r1\np2,\n", source="courses.csv")
    error = raised.value
    assert isinstance(error, InputError)
    text = str(error)
    assert "courses.csv has 2 problems, so nothing was sent" in text
    assert "Line 2: missing project code." in text
    assert "Line 3: missing release code." in text


def test_one_row_can_have_several_problems() -> None:
    found = problems_of("project_code,release_code,release_mode\n,,mp4\n")
    assert [problem.line for problem in found] == [2, 2, 2]


def test_header_is_required() -> None:
    found = problems_of("5dd580064b0b7,63da38278cd2f\n")
    assert len(found) == 1
    assert found[0].line == 1
    assert "header line is missing" in found[0].text


def test_header_problems() -> None:
    found = problems_of("project_code,release,project_code\np1,r1,p1\n")
    texts = [problem.text for problem in found]
    assert all(problem.line == 1 for problem in found)
    assert any("unknown column 'release'" in text for text in texts)
    assert any("'project_code' appears twice" in text for text in texts)
    assert any("lacks the column release_code" in text for text in texts)


def test_empty_list_is_rejected() -> None:
    assert "header line is missing" in problems_of("\n# nothing here\n")[0].text
    assert "no releases below" in problems_of("project_code,release_code\n\n")[0].text


def test_extra_cells_are_rejected() -> None:
    found = problems_of("project_code,release_code,description\np1,r1,a,b\n")
    assert found[0].line == 2
    assert "double quotes" in found[0].text


def test_lrs_user_name_needs_url() -> None:
    found = problems_of("project_code,release_code,lrs_username\np1,r1,someone\n")
    assert "needs an LRS endpoint URL" in found[0].text


def test_plain_http_lrs_is_a_warning() -> None:
    parsed = parse_batch_csv(
        "project_code,release_code,lrs_endpoint_url\np1,r1,http://lrs.example/x\n"
    )
    assert len(parsed.items) == 1
    assert [warning.line for warning in parsed.warnings] == [2]
    assert "plain http" in parsed.warnings[0].text


def test_quoted_line_break_keeps_line_numbers() -> None:
    text = 'project_code,release_code,description\np1,r1,"two\nlines"\n,r2,\n'
    found = problems_of(text)
    assert [problem.line for problem in found] == [4]


def test_read_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Could not read the batch list"):
        read_batch_csv(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("project_code,release_code\np1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_batch_csv(latin)


def test_items_round_trip() -> None:
    items = parse_batch_csv(GOOD).items
    again = parse_batch_csv(items_to_csv(items)).items
    assert [item.release_code for item in again] == [
        item.release_code for item in items
    ]
    assert [item.description for item in again] == [item.description for item in items]
    assert [item.release_mode for item in again] == [
        item.release_mode for item in items
    ]


def test_summary_csv(tmp_path: Path) -> None:
    items = [
        BatchItem(
            "p1",
            "r1",
            ReleaseMode.SCORM,
            state=ItemState.COMPLETE,
            attempt_id=7,
            version_number=4,
            package_path=tmp_path / "p1.zip",
            message="Complete.",
        ),
        BatchItem(
            "p2",
            "r2",
            state=ItemState.FAILED,
            message="=HYPERLINK(bad) rejected",
        ),
    ]
    path = tmp_path / "summary.csv"
    write_summary_csv(items, path)

    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == list(SUMMARY_COLUMNS)
    assert rows[1][:8] == ["1", "p1", "", "r1", "scorm", "complete", "7", "4"]
    assert rows[1][8] == str(tmp_path / "p1.zip")
    assert rows[2][5] == "failed"
    assert rows[2][9] == "'=HYPERLINK(bad) rejected"
    assert not list(tmp_path.glob(".summary.csv.*"))
