"""Walk and verify the chain of manifests from an artifact back to its raw inputs, and describe one
stage's inputs and output for lineage tools (``stage_lineage``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from include.store.artifacts import ArtifactError, ArtifactRef, ArtifactStore, manifest_uri_for, sha256_hex


@dataclass
class LineageNode:
    uri: str
    sha256: str
    manifest_uri: str | None
    manifest: dict[str, Any] | None
    inputs: list[LineageNode] = field(default_factory=list)


def walk(store: ArtifactStore, uri: str, _seen: dict[str, LineageNode] | None = None) -> LineageNode:
    """The lineage tree rooted at ``uri`` (a data or manifest URI). Raw sources are leaves."""
    seen = _seen if _seen is not None else {}
    manifest_uri = manifest_uri_for(uri)
    if manifest_uri in seen:
        return seen[manifest_uri]
    manifest = store.read_manifest(uri)
    node = LineageNode(manifest["artifact"]["uri"], manifest["artifact"]["sha256"], manifest_uri, manifest)
    seen[manifest_uri] = node
    for entry in manifest["inputs"]:
        if entry.get("manifest_uri"):
            child = walk(store, entry["manifest_uri"], seen)
        else:
            child = LineageNode(entry["uri"], entry["sha256"], None, None)
        node.inputs.append(child)
    return node


def render(node: LineageNode) -> str:
    """A readable tree: stage, object, short hash, and the parameters that made it."""
    lines: list[str] = []

    def describe(n: LineageNode) -> str:
        if n.manifest is None:
            return f"[raw source] {n.uri}  sha256={n.sha256[:12]}"
        m = n.manifest
        params = ", ".join(f"{k}={v}" for k, v in sorted(m["params"].items()) if not isinstance(v, dict | list))
        seeds = ", ".join(f"{k}={v}" for k, v in sorted(m["seeds"].items()))
        extra = f"  seeds: {seeds}" if seeds else ""
        return (
            f"[{m['stage']}] {n.uri}  sha256={n.sha256[:12]}  rows={m['artifact']['rows']}"
            f"\n{{pad}}params: {params or '-'}{extra}"
        )

    shown: set[str] = set()

    def visit(n: LineageNode, prefix: str, is_last: bool, root: bool) -> None:
        branch = "" if root else ("└── " if is_last else "├── ")
        pad = prefix + ("" if root else ("    " if is_last else "│   "))
        if n.uri in shown:  # lineage is a DAG: print each artifact's details once
            stage = n.manifest["stage"] if n.manifest else "raw source"
            lines.append(f"{prefix}{branch}[{stage}] {n.uri}  (shown above)")
            return
        shown.add(n.uri)
        lines.append(prefix + branch + describe(n).replace("{pad}", pad + "    "))
        for i, child in enumerate(n.inputs):
            visit(child, pad, i == len(n.inputs) - 1, False)

    visit(node, "", True, True)
    return "\n".join(lines)


def verify(store: ArtifactStore, uri: str) -> list[str]:
    """Re-hash every object in the chain. Returns problems (empty list: all verified)."""
    problems: list[str] = []
    try:
        root = walk(store, uri)
    except ArtifactError as exc:
        return [str(exc)]
    checked: set[str] = set()

    def check(node: LineageNode, pinned: str | None) -> None:
        if node.uri in checked:
            return
        checked.add(node.uri)
        objects = [(node.uri, node.sha256)]
        if node.manifest is not None:
            objects += [(f["uri"], f["sha256"]) for f in node.manifest["files"]]
        if pinned is not None and pinned != node.sha256:
            problems.append(f"{node.uri}: downstream manifest pins sha256 {pinned}, its manifest says {node.sha256}")
        for obj_uri, expected in objects:
            try:
                actual = sha256_hex(store.get_bytes(obj_uri))
            except ArtifactError as exc:
                problems.append(str(exc))
                continue
            if actual != expected:
                problems.append(f"{obj_uri}: sha256 {actual} != recorded {expected}")
        if node.manifest is not None:
            for child, entry in zip(node.inputs, node.manifest["inputs"], strict=True):
                check(child, entry["sha256"])

    check(root, None)
    return problems


@dataclass(frozen=True)
class StageLineage:
    """What one task stored and what from, as a lineage tool sees a job run (OpenLineage: input and
    output datasets with facets), from the manifests it wrote — the records ``walk`` follows, so
    the two cannot disagree. ``outputs`` are (stage, artifact) in the order written; ``inputs`` are
    their manifests' inputs less the task's own outputs (a task that writes a result and then a
    summary of it reports the result as an output only); ``quantum`` is what a quantum stage ran
    on (None for a classical one)."""

    outputs: tuple[tuple[str, ArtifactRef], ...]
    inputs: tuple[ArtifactRef, ...]
    quantum: dict[str, Any] | None


def stage_lineage(manifests: Sequence[tuple[str, Mapping[str, Any]]]) -> StageLineage:
    """The lineage of the (manifest URI, manifest) pairs one task wrote."""
    outputs = tuple(
        (str(m["stage"]), ArtifactRef(m["artifact"]["uri"], m["artifact"]["sha256"], uri)) for uri, m in manifests
    )
    own = {ref.uri for _, ref in outputs}
    inputs: dict[str, ArtifactRef] = {}
    for _, manifest in manifests:
        for entry in manifest["inputs"]:
            if entry["uri"] not in own:
                inputs.setdefault(entry["uri"], ArtifactRef(entry["uri"], entry["sha256"], entry.get("manifest_uri")))
    quantum = next((q for _, m in manifests if (q := quantum_run(m)) is not None), None)
    return StageLineage(outputs=outputs, inputs=tuple(inputs.values()), quantum=quantum)


def quantum_run(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """Backend, provider job ids, shots, transpiler settings and fallback tier of a stage that ran
    (or fell back from) quantum work: a submission (``provider_job_id``, ``fallback``) or a loop
    (its evaluations' job ids). None for a stage with neither."""
    params, measured = manifest.get("params", {}), manifest.get("measurements", {})
    job_ids = [str(e["job_id"]) for e in measured.get("evaluations", []) if isinstance(e, dict) and e.get("job_id")]
    if params.get("provider_job_id"):
        job_ids = [str(params["provider_job_id"]), *job_ids]
    fallback = params.get("fallback")
    if not job_ids and not isinstance(fallback, dict):
        return None
    return {
        "backend": params.get("backend"),
        # A resubmitted evaluation finds its job again (idempotency): each job once, in order.
        "provider_job_ids": list(dict.fromkeys(job_ids)),
        "shots": params.get("shots"),
        "transpiler": params.get("transpiler"),
        "fallback_tier": int(fallback["tier"]) if isinstance(fallback, dict) and "tier" in fallback else 1,
    }
