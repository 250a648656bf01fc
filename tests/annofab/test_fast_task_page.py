"""``read_task_page`` (msgspec straight into frozen ``Task`` objects) must equal the
cattrs reader on every body: the same page for valid bodies, the same
``ResponseDecodeError`` (message and field path) otherwise, whichever road it took."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annoq import ResponseDecodeError
from annoq._convert import make_page_reader
from annoq.annofab import Task
from annoq.annofab import _protocol as proto

from ..core._strategies import json_values, rfc3339

PHASES = ("annotation", "inspection", "acceptance")
STATUSES = ("not_started", "working", "on_hold", "break", "complete")
ids = st.text(min_size=1, max_size=20)
counts = st.integers(min_value=0, max_value=2**40)


def histories() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"phase": st.sampled_from(PHASES), "phase_stage": counts},
        optional={"account_id": st.none() | ids, "worked": st.booleans()},
    )


def tasks() -> st.SearchStrategy[dict[str, Any]]:
    """Task objects as the API answers them (every optional field sometimes left out)."""
    return st.fixed_dictionaries(
        {
            "project_id": ids,
            "task_id": ids,
            "phase": st.sampled_from(PHASES),
            "phase_stage": counts,
            "status": st.sampled_from(STATUSES),
            "updated_datetime": rfc3339(),
        },
        optional={
            "input_data_id_list": st.lists(ids, max_size=3),
            "account_id": st.none() | ids,
            "histories_by_phase": st.lists(histories(), max_size=3),
            "work_time_span": counts,
            "number_of_rejections": counts,
            "started_datetime": st.none() | rfc3339(),
            "operation_updated_datetime": st.none() | rfc3339(),
            "sampling": st.none() | ids,
            "metadata": st.dictionaries(
                st.text(max_size=5),
                st.text(max_size=5) | st.integers(-(2**63), 2**63 - 1) | st.booleans(),
                max_size=2,
            ),
        },
    )


@st.composite
def damaged_tasks(draw: st.DrawFn) -> dict[str, Any]:
    task = draw(tasks())
    for key in draw(st.lists(st.sampled_from(sorted(task)), max_size=2, unique=True)):
        if draw(st.booleans()):
            task[key] = draw(json_values)
        else:
            del task[key]
    return task


def body(task_list: list[Any], **others: Any) -> bytes:
    page = {"list": task_list, "page_no": 1, "total_page_no": 1, "total_count": len(task_list),
            "over_limit": False, **others}  # fmt: skip
    return json.dumps(page, ensure_ascii=False).encode()


def outcome(reader: Any, content: bytes) -> Any:
    try:
        return reader(content)
    except ResponseDecodeError as exc:
        return ("error", exc.path, str(exc))


def agree(content: bytes) -> Any:
    fast, reference = (
        outcome(proto.read_task_page, content),
        outcome(proto.read_task_page_cattrs, content),
    )
    assert fast == reference
    if not isinstance(fast, tuple):  # the same types and zones, field by field
        for a, b in zip(fast.tasks, reference.tasks, strict=True):
            for name in ("updated_datetime", "started_datetime", "operation_updated_datetime"):
                assert getattr(getattr(a, name), "tzinfo", None) == getattr(
                    getattr(b, name), "tzinfo", None
                )
            assert [type(h) for h in a.histories_by_phase] == [
                type(h) for h in b.histories_by_phase
            ]
    return fast


def msgspec_only() -> Any:
    return make_page_reader("list", Task, proto._PAGE_FIELDS, datetimes_to_utc=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(tasks(), max_size=5))
def test_valid_task_pages_decode_identically(task_list: list[Any]) -> None:
    page = agree(body(task_list))
    assert len(page.tasks) == len(task_list)
    assert all(isinstance(task, Task) for task in page.tasks)


@settings(max_examples=200, deadline=None)
@given(st.lists(damaged_tasks(), min_size=1, max_size=3))
def test_damaged_task_pages_decode_or_fail_identically(task_list: list[Any]) -> None:
    agree(body(task_list))


def test_a_plain_task_page_takes_the_msgspec_road_and_keeps_its_offsets() -> None:
    task = {"project_id": "p", "task_id": "t", "phase": "annotation", "phase_stage": 1,
            "status": "working", "updated_datetime": "2026-11-24T21:00:00.123+09:00",
            "histories_by_phase": [{"phase": "annotation", "phase_stage": 1}]}  # fmt: skip
    fast = msgspec_only()(body([task]))
    assert fast is not None
    (decoded,), rest = fast
    assert decoded == proto.read_task_page_cattrs(body([task])).tasks[0]
    assert decoded.updated_datetime.utcoffset().total_seconds() == 9 * 3600  # type: ignore[union-attr]
    assert rest["total_count"] == 1


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("phase_stage", "1", "$.list[0].phase_stage"),
        ("status", 3, "$.list[0].status"),
        ("updated_datetime", 5, "$.list[0].updated_datetime"),
        ("histories_by_phase", [{"phase": "annotation", "phase_stage": True}],
         "$.list[0].histories_by_phase[0].phase_stage"),
    ],
)  # fmt: skip
def test_a_bad_task_fails_with_its_field_path_on_both_roads(
    field: str, value: Any, path: str
) -> None:
    task = {"project_id": "p", "task_id": "t", "phase": "annotation", "phase_stage": 1,
            "status": "working", "updated_datetime": "2026-11-24T21:00:00+09:00"}  # fmt: skip
    task[field] = value
    assert msgspec_only()(body([task])) is None  # msgspec refused: the cattrs road decides
    with pytest.raises(ResponseDecodeError) as caught:
        proto.read_task_page(body([task]))
    assert caught.value.path == path
    agree(body([task]))


def test_bad_page_fields_fail_the_same_on_both_roads() -> None:
    for content in (body([], page_no="1"), body([], over_limit=1), b'{"list": []}', b"[]"):
        assert isinstance(agree(content), tuple)
