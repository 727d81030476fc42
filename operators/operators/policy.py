"""Policy tasks: the hardware-readiness checklist (stored as an artifact) and the approval branch.

Premium backends (``approval_required`` in the policy for the current environment) go through
Airflow's human-in-the-loop ApprovalOperator; everything else skips straight to submission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from operators.operators.base import ArtifactStageOperator

if TYPE_CHECKING:
    from include.store.artifacts import ArtifactRef, ArtifactStore


def current_policy_environment(pinned: str | None = None) -> tuple[Any, str]:
    """The policy and the environment a task runs in — the one place the Airflow layer resolves it:
    ``pinned`` (set on the operator by a DAG), else the Airflow Variable ``qflow_environment``, else
    ``QFLOW_ENVIRONMENT``, else the policy's default."""
    from airflow.sdk import Variable

    from include.governance.policy import current_environment_name, load_policy

    policy = load_policy()
    if pinned:
        return policy, str(pinned)
    return policy, current_environment_name(policy, Variable.get("qflow_environment", default=None))


def environment_admission(pinned: str | None = None, *, approved: bool = False) -> Any:
    """Budget admission (include.governance.budget.Admission) in the task's environment."""
    from include.governance.budget import Admission, SpendLedger

    policy, name = current_policy_environment(pinned)
    return Admission(policy, name, SpendLedger(), approved)


class HardwareReadinessOperator(ArtifactStageOperator):
    """Answers the readiness checklist and stores it; fails (no retry) if the backend needs
    approval and any item fails — an approver should never be asked to approve an unready run."""

    template_fields = ("validation", "baseline", "backend", "shots", "loop_backend", "loop_shots")

    def __init__(
        self,
        *,
        validation: Any,
        baseline: Any,
        backend: str,
        shots: Any,
        fallback_tiers: tuple[int, ...],
        loop_backend: str | None = None,
        loop_shots: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.validation = validation
        self.baseline = baseline
        self.backend = backend
        self.shots = shots
        self.fallback_tiers = fallback_tiers
        # The variational loop's backend and its whole loop's shots: approval covers the loop too.
        self.loop_backend = loop_backend
        self.loop_shots = loop_shots

    def run_stage(self, store: ArtifactStore, prefix: str, context: Any) -> ArtifactRef:
        from include.governance.budget import SpendLedger
        from include.governance.readiness import checklist_frame, readiness_checklist

        policy, environment_name = current_policy_environment()
        from include.quantum.backends.registry import backend_profile

        backend_name = backend_profile(self.backend).canonical
        checks = [("", backend_name, int(self.shots))]
        if self.loop_backend:
            checks.insert(0, ("loop: ", backend_profile(self.loop_backend).canonical, int(self.loop_shots or 0)))
        items = []
        environment = policy.environment(environment_name)[1]
        for label, name, shots in checks:
            for item in readiness_checklist(
                store,
                validation=self.ref(self.validation),
                baseline=self.ref(self.baseline),
                policy=policy,
                environment_name=environment_name,
                backend=name,
                shots=shots,
                fallback_tiers=self.fallback_tiers,
                spend=SpendLedger(),
            ):
                items.append(type(item)(f"{label}{item.item}", item.passed, f"{name}: {item.evidence}"))
        for item in items:
            self.log.info("readiness: %-34s %s  %s", item.item, "PASS" if item.passed else "FAIL", item.evidence)
        needs_approval = any(environment.needs_approval(name) for _, name, _ in checks)
        ref = store.put_table(
            prefix,
            "readiness",
            checklist_frame(items),
            stage="readiness",
            inputs=[self.ref(self.validation), self.ref(self.baseline)],
            params={"environment": environment_name, "backend": backend_name, "needs_approval": needs_approval},
        )
        failed = [i.item for i in items if not i.passed]
        if needs_approval and failed:
            raise AirflowFailException(
                f"{backend_name} needs approval in {environment_name!r} but the readiness checklist failed: "
                f"{', '.join(failed)}; fix these before asking for approval"
            )
        return ref


def approval_branch(backend: str | list[str], approval_task_id: str, next_task_id: str) -> str:
    """Which task runs next: the approval task when the policy requires one for any of the run's
    backends (the loop's and the final sample's), else the first quantum task."""
    from include.governance.policy import PolicyError

    policy, environment_name = current_policy_environment()
    try:
        _, environment = policy.environment(environment_name)
    except PolicyError as exc:
        raise AirflowFailException(str(exc)) from exc
    from include.quantum.backends.registry import backend_profile

    backends = [backend] if isinstance(backend, str) else list(backend)
    needed = any(environment.needs_approval(backend_profile(b).canonical) for b in backends)
    return approval_task_id if needed else next_task_id
