"""The emulated Annofab's task state machine, applied to one task by one caller.

It is the table of ``docs/semantics/annofab.md`` ("Operating on a task"):

==========================  ===============================================================
operate ``status``          who, from where -> effect
==========================  ===============================================================
``working``                 the assignee; not_started, break, on_hold -> working
``break`` / ``on_hold``     the assignee; working -> break / on_hold
``complete``                the assignee; working -> next phase (not_started, unassigned),
                            or ``complete`` in acceptance
``rejected``                the assignee; working, inspection/acceptance -> annotation,
                            not_started, the last annotator; ``number_of_rejections`` + 1
``rejected`` + ``force``    a project owner; any state -> the same, not counted
``cancelled``               the submitter; not_started in inspection/acceptance, nobody
                            worked it since -> back to the submitter's phase, not_started
``not_started``             an owner or accepter; reassign (``account_id``) or unassign;
                            a complete task only by an owner (cancels the acceptance)
==========================  ===============================================================

Every operation quotes ``last_updated_datetime``; anything but the task's current
``updated_datetime`` is refused with 409 before any rule is looked at. Times are in
``+09:00`` with milliseconds, strictly increasing across the store, so each update gives
the task a new ``updated_datetime``.
"""

from __future__ import annotations

from ._records import AfProject, AfTask, AnnofabError, History, PhaseEntry


class Rules:
    """The state machine applied to one task by one caller (see the module table)."""

    def __init__(self, project: AfProject, task: AfTask, me: str, role: str, now: int) -> None:
        self.project = project
        self.task = task
        self.me = me
        self.role = role
        self.now = now

    def _refuse(self, message: str) -> AnnofabError:
        return AnnofabError(400, "INVALID_TASK_OPERATION", message)

    def _assignee(self) -> None:
        if self.task.account_id != self.me:
            raise AnnofabError(403, "NOT_ASSIGNED", "only the task's assignee may do this")

    def _from(self, *statuses: str) -> None:
        if self.task.status not in statuses:
            raise self._refuse(
                f"a {self.task.status} task cannot do this (needs {' or '.join(statuses)})"
            )

    def apply(self, status: str, account_id: str | None, force: bool) -> None:
        handler = {
            "working": self.start,
            "break": self.pause,
            "on_hold": self.pause,
            "complete": self.complete,
            "rejected": self.force_reject if force else self.reject,
            "cancelled": self.cancel,
            "not_started": self.reassign,
        }[status]
        handler(status, account_id)

    def start(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("not_started", "break", "on_hold")
        task = self.task
        last = task.histories_by_phase[-1] if task.histories_by_phase else None
        if last and (last.phase, last.phase_stage, last.account_id) == (
            task.phase,
            task.phase_stage,
            self.me,
        ):
            last.worked = True
        else:
            task.histories_by_phase.append(PhaseEntry(task.phase, task.phase_stage, self.me, True))
        if task.started_ms is None:
            task.started_ms = self.now
        history_id = f"{task.task_id}-h{len(task.histories) + 1}"
        task.histories.append(
            History(history_id, task.phase, task.phase_stage, self.me, started_ms=self.now)
        )
        task.status = "working"
        task.worked_since_submit = True

    def _stop_clock(self) -> None:
        task = self.task
        if task.histories and task.histories[-1].ended_ms is None:
            current = task.histories[-1]
            current.ended_ms = self.now
            task.work_time_span += self.now - (current.started_ms or self.now)

    def pause(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        self._stop_clock()
        self.task.status = status

    def complete(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        self._stop_clock()
        task = self.task
        if task.phase == "acceptance":
            task.status = "complete"
            return
        task.submitted_by = self.me
        task.submitted_from = (task.phase, task.phase_stage)
        task.worked_since_submit = False
        if task.phase == "annotation" and self.project.inspection_stages > 0:
            task.phase, task.phase_stage = "inspection", 1
        elif task.phase == "inspection" and task.phase_stage < self.project.inspection_stages:
            task.phase_stage += 1
        else:
            task.phase, task.phase_stage = "acceptance", 1
        task.status, task.account_id = "not_started", None

    def _back_to_annotation(self) -> None:
        task = self.task
        annotators = [h.account_id for h in task.histories_by_phase if h.phase == "annotation"]
        task.phase, task.phase_stage, task.status = "annotation", 1, "not_started"
        task.account_id = next((a for a in reversed(annotators) if a), None)
        task.submitted_by = None
        task.submitted_from = None

    def reject(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        if self.task.phase == "annotation":
            raise self._refuse("only inspection or acceptance tasks can be rejected")
        self._stop_clock()
        self.task.number_of_rejections += 1
        self._back_to_annotation()

    def force_reject(self, status: str, account_id: str | None) -> None:
        if self.role != "owner":
            raise AnnofabError(403, "FORBIDDEN", "only a project owner may force a rejection")
        self._stop_clock()
        self._back_to_annotation()

    def cancel(self, status: str, account_id: str | None) -> None:
        task = self.task
        if task.submitted_by != self.me:
            raise AnnofabError(403, "FORBIDDEN", "only the submitter may cancel a submission")
        self._from("not_started")
        if task.phase == "annotation" or task.submitted_from is None:
            raise self._refuse("only tasks in inspection or acceptance have a submission")
        if task.worked_since_submit:
            raise self._refuse("the task was worked on since it was submitted")
        task.phase, task.phase_stage = task.submitted_from
        task.status, task.account_id = "not_started", self.me
        task.submitted_by = None
        task.submitted_from = None

    def reassign(self, status: str, account_id: str | None) -> None:
        task = self.task
        if self.role not in ("owner", "accepter"):
            raise AnnofabError(403, "FORBIDDEN", "only owners and accepters reassign tasks")
        if account_id is not None and account_id not in self.project.members:
            raise self._refuse(f"account {account_id} is not a member of this project")
        if task.status == "complete":
            if self.role != "owner" or task.phase != "acceptance":
                raise AnnofabError(
                    403, "FORBIDDEN", "only a project owner may cancel an acceptance"
                )
            if account_id is None:
                raise self._refuse("cancelling an acceptance needs the account_id to assign")
        self._stop_clock()
        task.status, task.account_id = "not_started", account_id


__all__ = ["Rules"]
