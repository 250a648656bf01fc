"""The generated low-level API (``af.api``, ``af.api2``), one test per published operation,
pinned on the wire with aioresponses: the spec's method and path (path parameters in path
order, percent-encoded), required query parameters, a JSON body where the spec has one,
and the answer synthesised from the response schema decoded as it came.

Plus what every operation shares: names as the official client has them, up-to-date
generated code, bad arguments refused before any request, comma-separated arrays."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import annoq
from annoq import InvalidArgumentError, ResponseDecodeError
from annoq.annofab import AnnofabSession
from annoq.annofab import _api as generated
from tests._support import MockHTTP, calls, only_call, request_count, sent_json

from . import _spec

BASE = "https://annofab.example"
PAT = "pat-0123456789abcdef"
FAST = annoq.RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.002)
ANY_URL = re.compile(rf"^{re.escape(BASE)}/.*$")
ROOT = Path(__file__).resolve().parent.parent.parent

V1 = _spec.v1_operations()
V2 = _spec.v2_operations()


@pytest.fixture
async def af() -> AsyncIterator[AnnofabSession]:
    async with AnnofabSession(pat=PAT, endpoint=BASE, retry_policy=FAST) as session:
        yield session


@pytest.fixture
def http() -> Any:
    with MockHTTP() as mock:
        yield mock


def _generator() -> Any:
    path = ROOT / "scripts" / "generate_annofab_api.py"
    spec = importlib.util.spec_from_file_location("generate_annofab_api", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _call_args(op: dict[str, Any]) -> tuple[list[str], dict[str, Any], str, dict[str, str]]:
    """Arguments of one call, and the path and query it must produce."""
    names = re.findall(r"\{(\w+)\}", op["path"])
    values = [f"{name} {i}+x" for i, name in enumerate(names)]  # space and plus: encoded
    path = op["path"]
    for name, value in zip(names, values, strict=True):
        path = path.replace("{" + name + "}", value.replace(" ", "%20").replace("+", "%2B"))
    kwargs: dict[str, Any] = {}
    wire_query: dict[str, str] = {}
    required = [p for p in op["parameters"] if p["in"] == "query" and p.get("required")]
    if required:
        kwargs["query_params"] = {}
        for param in required:
            value, wire = _spec.query_sample(param)
            kwargs["query_params"][param["name"]] = value
            wire_query[param["name"]] = wire
    body = op.get("request_body")
    if body:
        kwargs["request_body"] = _spec.sample(body["schema"])
    return values, kwargs, path, wire_query


def _ids(ops: list[dict[str, Any]]) -> list[str]:
    return [_spec.snake(op["operation_id"]) for op in ops]


@pytest.mark.parametrize(
    ("api_name", "op"),
    [("api", op) for op in V1] + [("api2", op) for op in V2],
    ids=_ids(V1) + _ids(V2),
)
async def test_each_operation_sends_the_spec_request_and_decodes_its_answer(
    af: AnnofabSession, http: Any, api_name: str, op: dict[str, Any]
) -> None:
    base = "/api/v2" if api_name == "api2" else "/api/v1"
    status, response = _spec.success(op)
    answer = _spec.sample(response["schema"]) if response.get("schema") else None
    if answer is None:
        http.add(ANY_URL, op["method"], status=status, body=b"")
    else:
        http.add(ANY_URL, op["method"], status=status, body=orjson.dumps(answer))
    values, kwargs, path, wire_query = _call_args(op)

    method = getattr(getattr(af, api_name), _spec.snake(op["operation_id"]))
    decoded = await method(*values, **kwargs)

    sent_method, sent_url, call = only_call(http)
    assert (sent_method, sent_url.raw_path) == (op["method"], base + path)
    assert dict(sent_url.query) == wire_query
    if "request_body" in kwargs:
        assert sent_json(call) == kwargs["request_body"]
        assert call.kwargs["headers"]["Content-Type"] == "application/json"
    else:
        assert call.kwargs.get("data") is None
    authorization = call.kwargs["headers"].get("Authorization")
    assert authorization == (f"Bearer {PAT}" if op["security"] else None)
    assert decoded == answer


def test_the_api_has_every_published_operation_named_as_the_official_client() -> None:
    v1 = {name for name, _ in inspect.getmembers(generated.AnnofabApi, inspect.iscoroutinefunction)}
    v2 = {
        name for name, _ in inspect.getmembers(generated.AnnofabApiV2, inspect.iscoroutinefunction)
    }
    assert v1 == set(_ids(V1))
    assert len(v1) == 126
    assert v2 == set(_ids(V2))
    assert len(v2) == 23
    assert all(name.endswith("_v2") for name in v2)
    login_family = {
        "login",
        "logout",
        "refresh_token",
        "login_respond_to_auth_challenge",
        "request_plugin_token",
        "issue_project_token",
        "list_project_token",
        "revoke_project_token",
        "issue_project_guest_user_token",
    }
    assert login_family <= v1


@pytest.mark.parametrize("op", V1 + V2, ids=_ids(V1) + _ids(V2))
def test_each_method_takes_path_parameters_in_path_order_then_the_spec_keywords(
    op: dict[str, Any],
) -> None:
    cls = generated.AnnofabApiV2 if op in V2 else generated.AnnofabApi
    signature = inspect.signature(getattr(cls, _spec.snake(op["operation_id"])))
    params = list(signature.parameters.values())[1:]
    positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    keywords = {p.name: p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert positional == re.findall(r"\{(\w+)\}", op["path"])
    query = [p for p in op["parameters"] if p["in"] == "query"]
    expected = set()
    if query:
        expected.add("query_params")
        required = any(p.get("required") for p in query)
        assert (keywords["query_params"].default is inspect.Parameter.empty) == required
    if op.get("request_body"):
        expected.add("request_body")
        required = bool(op["request_body"].get("required"))
        assert (keywords["request_body"].default is inspect.Parameter.empty) == required
    assert set(keywords) == expected


def test_query_params_typeddicts_carry_the_spec_names_and_required_keys() -> None:
    typed = generated.GetTasksInBulkQueryParams
    assert typed.__required_keys__ == frozenset({"task_id"})
    statistics = generated.GetTaskDailyStatisticsQueryParams
    assert statistics.__required_keys__ == frozenset({"from", "to"})
    search = generated.GetTasksQueryParams
    names = {p["name"] for op in V1 if op["operation_id"] == "getTasks" for p in op["parameters"]}
    assert set(search.__annotations__) == names - {"project_id"}


def test_the_generated_module_is_up_to_date_with_the_contract_facts(tmp_path: Path) -> None:
    module = _generator()
    assert module.main(["--output", str(tmp_path)]) == 0
    fresh = (tmp_path / "_api.py").read_text("utf-8")
    current = (ROOT / "src" / "annoq" / "annofab" / "_api.py").read_text("utf-8")
    assert fresh == current, "run scripts/generate_annofab_api.py"
    assert module.generate()[0] == fresh  # deterministic
    table = (tmp_path / "annofab-seed-methods.md").read_text("utf-8")
    assert table == (ROOT / "docs" / "annofab-seed-methods.md").read_text("utf-8")


def test_the_seed_table_accounts_for_each_of_the_115_official_methods() -> None:
    table = (ROOT / "docs" / "annofab-seed-methods.md").read_text("utf-8")
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    seed = _spec.seed_methods()
    assert len(rows) == len(seed) == 115
    present = [m for m in seed if m["status"] == "present"]
    assert len(present) == 89
    for method, row in zip(seed, rows, strict=True):
        assert f"`{method['method']}`" in row
        if method["status"] == "present":
            assert callable(getattr(generated.AnnofabApi, method["method"]))
            assert f"af.api.{method['method']}(" in row
        else:
            assert f"removed from the service in API {method['removed_in']}" in row
            if "replaced_by" in method:
                assert callable(getattr(generated.AnnofabApi, method["replaced_by"]))
                assert f"af.api.{method['replaced_by']}(" in row


def test_the_generator_refuses_a_new_post_nobody_classified_for_retries(tmp_path: Path) -> None:
    module = _generator()
    op = {
        "operation_id": "startSomething",
        "method": "POST",
        "path": "/projects/{project_id}/something",
        "responses": {"200": {}},
    }
    with pytest.raises(SystemExit, match="RETRY_DECISIONS"):
        module.retry_class(op)
    assert module.retry_class({**op, "responses": {"202": {}}})[0] == "unsafe"


def test_the_retry_unsafe_operations_are_the_ones_that_can_apply_twice() -> None:
    unsafe = {
        _spec.snake(op.operation_id): op.retry
        for op in (*generated.OPERATIONS, *generated.OPERATIONS_V2)
        if op.retry != "safe"
    }
    assert unsafe == {
        "assign_tasks": "assign",
        "put_input_data": "input-zip",
        "test_webhook": "unsafe",
        "initiate_project_copy": "unsafe",
        "initiate_tasks_generation": "unsafe",
        "post_project_inputs_update": "unsafe",
        "post_project_tasks_update": "unsafe",
        "post_annotation_archive_update": "unsafe",
        "issue_project_token": "unsafe",
        "issue_project_guest_user_token": "unsafe",
        "issue_personal_access_token": "unsafe",
    }


# -- arrays, and bad input before any request --------------------------------------------


async def test_array_query_parameters_go_out_comma_separated(af: AnnofabSession, http: Any) -> None:
    http.get(ANY_URL, payload={"success": [], "failure": []}, repeat=True)
    await af.api.get_tasks_in_bulk("prj-1", query_params={"task_id": ["t-1", "t-2", "t-3"]})
    await af.api.get_input_data_in_bulk("prj-1", query_params={"input_data_id": "a,b"})
    sent = [url for _, url, _ in calls(http)]
    assert sent[0].query_string == "task_id=t-1,t-2,t-3"
    assert sent[1].query["input_data_id"] == "a,b"


async def test_optional_query_parameters_are_encoded_as_the_spec_types(
    af: AnnofabSession, http: Any
) -> None:
    http.get(ANY_URL, payload={"list": []})
    await af.api.get_annotation_list(
        "prj-1",
        query_params={"page": 2, "limit": 0, "aggregate_by_task_and_input": True, "v": "2"},
    )
    _, url, _ = only_call(http)
    assert dict(url.query) == {
        "page": "2",
        "limit": "0",
        "aggregate_by_task_and_input": "true",
        "v": "2",
    }


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda api: api.get_project(None), "project_id"),
        (lambda api: api.get_project(""), "project_id"),
        (lambda api: api.get_task("prj-1", 42), "task_id"),
        (lambda api: api.get_tasks("prj-1", query_params={"limit": "10"}), "'limit'"),
        (lambda api: api.get_tasks("prj-1", query_params={"limit": 201}), "'limit'"),
        (lambda api: api.get_tasks("prj-1", query_params={"limt": 10}), "'limt'"),
        (lambda api: api.get_tasks("prj-1", query_params={"phase": "review"}), "acceptance"),
        (lambda api: api.get_tasks("prj-1", query_params=[("page", 1)]), "query_params"),
        (lambda api: api.get_tasks_in_bulk("prj-1", query_params={}), "'task_id'"),
        (
            lambda api: api.get_tasks_in_bulk("prj-1", query_params={"task_id": ["a"] * 101}),
            "'task_id'",
        ),
        (
            lambda api: api.get_tasks_in_bulk("prj-1", query_params={"task_id": ["a,b"]}),
            "'task_id'",
        ),
        (lambda api: api.get_annotation_list("p", query_params={"page": True}), "'page'"),
        (lambda api: api.put_task("prj-1", "t-1", request_body=None), "request_body"),
        (lambda api: api.put_task("prj-1", "t-1", request_body=[1]), "request_body"),
        (lambda api: api.batch_update_tasks("prj-1", request_body={"a": 1}), "request_body"),
    ],
)
async def test_bad_arguments_raise_invalid_argument_naming_them_before_any_request(
    af: AnnofabSession, http: Any, call: Any, named: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(named)):
        await call(af.api)
    assert request_count(http) == 0


async def test_a_non_json_or_mis_shaped_answer_is_a_decode_error(
    af: AnnofabSession, http: Any
) -> None:
    http.get(ANY_URL, body=b"<html>oops</html>", content_type="text/html")
    with pytest.raises(ResponseDecodeError):
        await af.api.get_project("prj-1")
    http.get(ANY_URL, payload=[1, 2])
    with pytest.raises(ResponseDecodeError, match="expected a JSON object"):
        await af.api.get_project("prj-1")


async def test_a_view_with_other_options_calls_with_those_options(af: AnnofabSession) -> None:
    with MockHTTP() as mock:
        mock.get(ANY_URL, status=503, repeat=True)
        with pytest.raises(annoq.ServerError) as caught:
            await af.with_options(max_retries=0).api.get_my_account()
    assert caught.value.attempts == 1
    assert request_count(mock) == 1
