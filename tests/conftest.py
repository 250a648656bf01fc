"""Root test configuration: the ``slow`` and ``bench`` markers (registered in
pyproject.toml) put on the tests that take seconds, so ``pytest -m "not slow"`` runs the
fast suite in about a minute. CI runs everything. The list is by test function (all its
parameters), measured with ``pytest --durations=40``; a test taking over ~1.5 s belongs
here.

Fixtures written once for the whole suite: ``emu`` (the emulator of the test: the
``annoq_emulator`` plugin fixture, seeded with ``EMULATOR_SEED`` unless the test's own
``@pytest.mark.annoq_emulator(...)`` says otherwise), ``http`` (a mocked HTTP layer)
and ``weave`` (a WeaveSession on it; tests/integration overrides it with one on the
emulator). The one fast retry policy and the mock helpers are in tests/_support.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from annoq import WeaveSession
from annoq.emulator import Emulator
from tests._support import API_KEY, BASE, FAST_RETRIES, MockHTTP

#: The emulator's seed when a test does not choose one (deterministic data and keys).
EMULATOR_SEED = 2024

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
        # Measured over 1.4 s each in the fast suite (issue 13 item 6); each has a quicker
        # sibling in the fast loop (the decode identity on smaller samples, one fault storm,
        # one walk under a background actor, the other CLI subprocess tests).
        "tests/integration/test_throttling_emulator.py::test_a_storm_of_429s_fails_no_item_with_default_settings",
        "tests/integration/test_throttling_emulator.py::test_waiting_out_429s_takes_no_token_from_the_retry_budget",
        "tests/annofab/test_fast_task_page.py::test_valid_task_pages_decode_identically",
        "tests/annofab/test_fast_task_page.py::test_damaged_task_pages_decode_or_fail_identically",
        "tests/integration/test_adaptive_emulator.py::test_a_bulk_run_settles_near_the_servers_capacity_without_being_told",
        "tests/integration/test_walk_emulator.py::test_walk_yields_each_unstarted_item_once_while_another_annotator_completes",
        "tests/cli/test_annotate.py::test_export_draws_a_progress_bar_on_a_terminal_and_writes_the_file",
        "tests/cli/test_interrupt.py::test_sigterm_prints_the_counts_writes_the_failures_file_and_exits_143",
        "tests/annofab/test_cli.py::test_rerunning_operate_complete_from_a_listing_changes_nothing_the_first_run_did",
        "tests/weave/test_annotation_protocol.py::test_the_schema_checker_agrees_with_the_reference_validator",
    }
)
#: Modules slow as a whole: the CLI as a child process on pipes, ptys, symlinks and
#: descriptors (about 1 s a test, 16 s together); the in-process CLI tests stay fast.
SLOW_MODULES = ("tests/cli/test_shell_habits.py",)
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
        elif path in SLOW_MODULES or f"{path}::{function}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        fixtures = getattr(item, "fixturenames", ())
        if (
            "annoq_emulator" in fixtures
            and not path.startswith("tests/emulator/")  # the emulator's own tests choose
            and item.get_closest_marker("annoq_emulator") is None
        ):
            item.add_marker(pytest.mark.annoq_emulator(seed=EMULATOR_SEED))


@pytest.fixture
def emu(annoq_emulator: Emulator) -> Emulator:
    """The emulator of this test (the plugin's fixture, under a short name)."""
    return annoq_emulator


@pytest.fixture
def http() -> Iterator[MockHTTP]:
    """Every aiohttp request goes to this mock; an unregistered URL is refused."""
    with MockHTTP() as mock:
        yield mock


@pytest.fixture
async def weave() -> AsyncIterator[WeaveSession]:
    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=FAST_RETRIES) as session:
        yield session
