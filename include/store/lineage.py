"""Walk and verify the chain of manifests from an artifact back to its raw inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from include.store.artifacts import ArtifactError, ArtifactStore, manifest_uri_for, sha256_hex


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
