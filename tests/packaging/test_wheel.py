"""The wheel a user installs: only qflow's code under the `include` and `operators` import names."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes build/ and *.egg-info into the directory it builds.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for top in ("include", "operators"):
        shutil.copytree(REPO / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(out), str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("qflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_only_qflows_packages_and_the_policy(wheel_names: list[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"include", "operators"}
    assert "include/governance/policy.yaml" in wheel_names  # load_policy() needs it installed
    shipped = {n for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    sources = {
        str(path.relative_to(REPO))
        for top in ("include", "operators")
        for path in (REPO / top).rglob("*")
        if path.suffix == ".py" and "__pycache__" not in path.parts
    }
    # Python modules of the source tree, the policy and the operations view's page, nothing else
    # (no caches, tests, notebooks).
    data = {"include/governance/policy.yaml", "operators/ops_view.html"}
    assert shipped == sources | data, sorted(shipped ^ sources)
