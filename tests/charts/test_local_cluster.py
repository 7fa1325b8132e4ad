"""The air-gapped kind cluster's own parts (docker/local): offline checks, no Docker engine.

The real proof is `make up IMAGES=local` + `make e2e` on kind (README, Kubernetes section); these
catch the mistakes that would only show there, minutes into a build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import ROOT, VALUES

LOCAL = ROOT / "docker" / "local"
WRAPPER = LOCAL / "files" / "runc-drop-caps"


def versions() -> dict[str, str]:
    """docker/local/versions.sh, evaluated by bash (the defaults, as the scripts see them)."""
    names = [
        "KUBERNETES_VERSION", "ETCD_VERSION", "COREDNS_VERSION", "KUBE_ROUTER_VERSION",
        "LOCAL_PATH_PROVISIONER_VERSION", "KUBERAY_VERSION", "LOCAL_OPERATOR_IMAGE",
        "LOCAL_MINIO_IMAGE", "LOCAL_MC_IMAGE", "LOCAL_POSTGRES_IMAGE",
    ]  # fmt: skip
    script = f"source {LOCAL / 'versions.sh'}; " + "; ".join(f'echo "${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return dict(zip(names, out.stdout.splitlines(), strict=True))


# --- the runc wrapper ------------------------------------------------------------------------


def run_wrapper(tmp_path: Path, *args: str) -> list[str]:
    """The wrapper in front of a fake runc that records its arguments."""
    fake = tmp_path / "runc"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/called"\n')
    fake.chmod(0o755)
    env = {**os.environ, "REAL_RUNC": str(fake), "RUNC_DROP_CAPS_ALWAYS": "1"}
    subprocess.run(["sh", str(WRAPPER), *args], env=env, check=True, timeout=30)
    return (tmp_path / "called").read_text().split()


@pytest.fixture
def jq():
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (charts/scripts/docker-engine.sh installs it)")


SPEC = {
    "process": {
        "oomScoreAdj": -998,
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
            "effective": ["CAP_SYS_RESOURCE", "CAP_KILL"],
        },
    },
    "root": {"path": "rootfs"},
}


def test_wrapper_drops_the_capability_and_negative_oom_score_on_create(tmp_path, jq):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(SPEC))
    called = run_wrapper(tmp_path, "--root", "/run/x", "create", "--bundle", str(bundle), "c1")
    assert called == ["--root", "/run/x", "create", "--bundle", str(bundle), "c1"]
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["capabilities"] == {"bounding": ["CAP_CHOWN"], "effective": ["CAP_KILL"]}
    assert "oomScoreAdj" not in spec["process"]
    assert spec["root"] == SPEC["root"], "the rest of the spec must stay as it was"


def test_wrapper_rewrites_the_process_file_of_exec_and_keeps_a_positive_score(tmp_path, jq):
    process = tmp_path / "process.json"
    process.write_text(json.dumps({**SPEC["process"], "oomScoreAdj": 500}))
    run_wrapper(tmp_path, "exec", "--process", str(process), "--detach", "c1")
    rewritten = json.loads(process.read_text())
    assert "CAP_SYS_RESOURCE" not in json.dumps(rewritten)
    assert rewritten["oomScoreAdj"] == 500


def test_wrapper_is_plain_runc_where_the_capability_exists(tmp_path):
    """Without RUNC_DROP_CAPS_ALWAYS, a host that has the capability gets its spec untouched."""
    bounding = int(re.search(r"CapBnd:\s*(\w+)", Path("/proc/self/status").read_text())[1], 16)
    if not bounding >> 24 & 1:
        pytest.skip("this machine lacks CAP_SYS_RESOURCE: the wrapper filters here")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(SPEC))
    fake = tmp_path / "runc"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "REAL_RUNC": str(fake)}
    subprocess.run(
        ["sh", str(WRAPPER), "create", "--bundle", str(bundle), "c"], env=env, check=True
    )
    assert json.loads((bundle / "config.json").read_text()) == SPEC


def test_docker_engine_script_registers_the_wrapper_only_when_the_capability_is_missing():
    text = (ROOT / "charts" / "scripts" / "docker-engine.sh").read_text()
    assert "cap_missing" in text and ">> 24 & 1" in text
    assert re.search(r"if cap_missing; then\n.*\n.*install .*runc-drop-caps", text)
    containerd = (LOCAL / "files" / "containerd-config.toml").read_text()
    assert 'BinaryName = "/usr/local/sbin/runc-drop-caps"' in containerd


# --- the kind configuration and node image ---------------------------------------------------


def test_kind_config_is_the_repositorys_plus_the_image_tags_built_here():
    out = subprocess.run(
        ["bash", str(LOCAL / "kind-config.sh")], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith((ROOT / "kind-config.yaml").read_text())
    config = yaml.safe_load(out)
    assert len(config["nodes"]) == 3
    patch = yaml.safe_load(config["kubeadmConfigPatches"][0])
    v = versions()
    assert patch["etcd"]["local"]["imageTag"] == v["ETCD_VERSION"].removeprefix("v") + "-0"
    assert patch["dns"]["imageTag"] == v["COREDNS_VERSION"]


def node_image_tags() -> set[str]:
    """The image tags node-image.sh builds, with versions.sh's values filled in."""
    text = (LOCAL / "node-image.sh").read_text()
    block = text[text.index("images=(") : text.index("\n)\n", text.index("images=("))]
    v = {**versions(), "ETCD_TAG": versions()["ETCD_VERSION"].removeprefix("v") + "-0"}
    v["SANDBOX_IMAGE"] = re.search(r'SANDBOX_IMAGE="([^"]+)"', text)[1]
    tags = set()
    for entry in re.findall(r'^\s+"([^|"]+)\|', block, re.M):
        tags.add(re.sub(r"\$(\w+)", lambda m: v[m[1]], entry))
    return tags


def manifest_images(name: str) -> set[str]:
    v = versions()
    text = (LOCAL / "manifests" / name).read_text()
    text = text.replace("KUBE_ROUTER_VERSION", v["KUBE_ROUTER_VERSION"]).replace(
        "LPP_VERSION", v["LOCAL_PATH_PROVISIONER_VERSION"]
    )
    images = set(re.findall(r"\bimage: (\S+)", text))
    images |= set(re.findall(r"--helper-image, \"([^\"]+)\"", text))
    return images


@pytest.mark.parametrize("manifest", ["network.yaml", "storage.yaml"])
def test_every_image_the_node_manifests_use_is_in_the_node_image(manifest):
    """kind applies these before any `kind load`: an image missing here never starts."""
    images = manifest_images(manifest)
    assert images
    carried = node_image_tags() | {"ray-platform/debian:bookworm"}
    assert images <= carried, f"not in the node image: {images - carried}"


def test_the_sandbox_image_is_the_pause_built_here():
    text = (LOCAL / "node-image.sh").read_text()
    assert 'sed "s#SANDBOX_IMAGE#$SANDBOX_IMAGE#"' in text
    assert "sandbox_image" in (LOCAL / "files" / "containerd-config.toml").read_text()
    assert any(t.startswith("ray-platform/pause:") for t in node_image_tags())


def test_every_component_target_the_scripts_build_exists():
    targets = set(
        re.findall(r"^FROM \S+ AS (\S+)", (LOCAL / "components.Dockerfile").read_text(), re.M)
    )
    used = set(re.findall(r"\|([a-z-]+)\|", (LOCAL / "node-image.sh").read_text()))
    used |= set(re.findall(r"--target (\S+)", (LOCAL / "build.sh").read_text()))
    assert used and used <= targets, used - targets


def test_the_network_policy_engine_uses_no_nftables_queue():
    """kube-network-policies needs CONFIG_NFT_QUEUE; kube-router's iptables firewall does not."""
    network = yaml.safe_load_all((LOCAL / "manifests" / "network.yaml").read_text())
    daemonsets = {d["metadata"]["name"]: d for d in network if d and d["kind"] == "DaemonSet"}
    assert set(daemonsets) == {"kind-net", "kube-router"}
    args = daemonsets["kube-router"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false"} <= set(args)


def test_storage_runs_as_the_service_account_the_provisioner_names_its_helpers_with():
    docs = [d for d in yaml.safe_load_all((LOCAL / "manifests" / "storage.yaml").read_text()) if d]
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    assert account == "local-path-provisioner-service-account"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account
    storage_class = next(d for d in docs if d["kind"] == "StorageClass")
    assert storage_class["metadata"]["name"] == "standard"  # kind's name: the charts' default


def test_local_values_name_the_images_build_sh_makes():
    v = versions()
    local = yaml.safe_load((VALUES / "local-images.yaml").read_text())
    minio, mc = local["store"]["minio"]["image"], local["store"]["bucketJob"]["image"]
    postgres = local["postgres"]["image"]
    assert f"{minio['repository']}:{minio['tag']}" == v["LOCAL_MINIO_IMAGE"]
    assert f"{mc['repository']}:{mc['tag']}" == v["LOCAL_MC_IMAGE"]
    assert f"{postgres['repository']}:{postgres['tag']}" == v["LOCAL_POSTGRES_IMAGE"]


def test_go_binaries_builds_what_the_node_image_needs():
    text = (LOCAL / "go-binaries.sh").read_text()
    targets = re.search(r"^targets=\((.*)\)", text, re.M)[1].split()
    for needed in ["kubernetes", "kind", "etcd", "coredns", "kube-router", "kuberay-operator"]:
        assert needed in targets
        assert re.search(rf"^\s+{re.escape(needed)}\) ", text, re.M), f"no build for {needed}"
