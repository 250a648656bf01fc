"""Root test configuration: the ``slow`` and ``bench`` markers (registered in
pyproject.toml) put on the tests that take seconds, so ``pytest -m "not slow"`` runs the
fast suite in about a minute. CI runs everything. The list is by test function (all its
parameters), measured with ``pytest --durations=40``; a test taking over ~1.5 s belongs
here.

The ``http`` and ``weave`` fixtures (a mocked HTTP layer and a WeaveSession pointed at
it) were two identical conftests of tests/core and tests/weave; a directory with its own
``weave`` fixture (tests/integration: the emulator) overrides this one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from annoq import WeaveSession
from tests.core._support import API_KEY, BASE, FAST_RETRY, MockHTTP

#: ``module path::test function`` of the slow tests.
SLOW_TESTS = frozenset(
    {
        "tests/integration/test_bulk_emulator.py::test_legacy_server_refusals_after_lost_responses_count_as_updated_once",
        "tests/integration/test_bulk_emulator.py::test_mark_all_under_heavy_faults_applies_each_update_exactly_once",
        "tests/weave/test_fast_decode.py::test_damaged_pages_decode_or_fail_identically",
        "tests/weave/test_fast_decode.py::test_valid_pages_decode_identically",
        "tests/weave/test_fast_decode.py::test_odd_timestamps_read_the_same_on_both_paths",
        "tests/integration/test_annotations_emulator.py::test_import_under_faults_leaves_one_row_per_spec_with_the_values_given_and_completes",
        "tests/integration/test_annotations_emulator.py::test_export_yields_every_annotation_once_with_its_item_while_others_annotate_and_complete",
        "tests/emulator/test_pytest_plugin_strict_mode.py::test_the_readme_fixture_example_passes_under_pytest_asyncio_strict_mode",
        "tests/emulator/test_pytest_plugin_strict_mode.py::test_strict_mode_marks_methods_and_keeps_a_marker_the_test_already_has",
        "tests/annofab/test_cli.py::test_operate_whose_task_walk_fails_midway_writes_the_failures_file_and_exits_1",
        "tests/annofab/test_cli.py::test_ctrl_c_mid_operate_prints_the_counts_and_the_failures_file_completes_each_task_once",
        "tests/annofab/test_cli.py::test_interrupting_operate_and_rerunning_it_completes_each_task_once",
        "tests/integration/test_throttling_emulator.py::test_an_empty_retry_budget_slows_a_bulk_run_instead_of_failing_items",
        "tests/annofab/test_bulk.py::test_bulk_complete_of_2000_tasks_held_by_others_under_faults_applies_each_change_once",
        "tests/cli/test_interrupt.py::test_a_walk_that_fails_midway_writes_the_failures_file_and_exits_1_with_one_line",
        "tests/cli/test_interrupt.py::test_ctrl_c_prints_the_counts_and_the_failures_file_resumes_exactly",
        "tests/cli/test_serve.py::test_serve_gives_different_keys_each_run_unless_seeded",
        "tests/weave/test_fast_hook.py::test_damaged_items_decode_or_fail_identically",
        "tests/engines/test_bulk_engine.py::test_input_is_read_lazily_and_pending_work_stays_bounded",
        "tests/core/test_convert.py::test_valid_items_round_trip_through_the_converter",
        "tests/cli/test_demo.py::test_the_readme_demo_command_exits_0_and_prints_the_summary",
        "tests/integration/test_walk_emulator.py::test_fast_mode_skips_items_in_the_same_scenario",
    }
)
#: Directories whose tests run benchmarks (``bench``, and slow too).
BENCH_DIRS = ("tests/benchmarks/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        function = item.originalname if isinstance(item, pytest.Function) else item.name
        if path.startswith(BENCH_DIRS):
            item.add_marker(pytest.mark.bench)
            item.add_marker(pytest.mark.slow)
        elif f"{path}::{function}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def http() -> Iterator[MockHTTP]:
    """Every aiohttp request goes to this mock; an unregistered URL is refused."""
    with MockHTTP() as mock:
        yield mock


@pytest.fixture
async def weave() -> AsyncIterator[WeaveSession]:
    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=FAST_RETRY) as session:
        yield session
