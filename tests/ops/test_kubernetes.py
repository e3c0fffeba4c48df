"""The Kubernetes manifests: valid against the schemas kubernetes-validate ships (offline),
and saying what the README's "Production" section promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from custom_hooks.core.sections.governance import LedgerSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def _docs() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            out[doc["kind"]] = doc
    return out


DOCS = _docs()


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("kind", sorted(k for k in DOCS if k != "ServiceMonitor"))
def test_manifest_is_valid_kubernetes(kind: str) -> None:
    # strict: an unknown or misspelt field is an error, not silently dropped by the API server
    kubernetes_validate.validate(DOCS[kind], KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(DOCS["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_service_monitor_is_a_crd_that_scrapes_the_service_with_the_token() -> None:
    monitor = DOCS["ServiceMonitor"]
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):  # not a built-in kind
        kubernetes_validate.validate(monitor, KUBERNETES_VERSION, strict=True)
    service = DOCS["Service"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    credentials = endpoint["authorization"]["credentials"]
    assert credentials == {"name": DOCS["Secret"]["metadata"]["name"], "key": "GATEWAY_METRICS_TOKEN"}


def _pod() -> dict[str, Any]:
    return DOCS["Deployment"]["spec"]["template"]


def _container() -> dict[str, Any]:
    (container,) = _pod()["spec"]["containers"]
    return container


def test_deployment_runs_several_replicas_that_selectors_find() -> None:
    deployment = DOCS["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    labels = _pod()["metadata"]["labels"]
    for kind in ("Deployment", "PodDisruptionBudget"):
        assert DOCS[kind]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert DOCS["Service"]["spec"]["selector"].items() <= labels.items()
    hpa = DOCS["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert DOCS["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_dependencies_and_secrets_come_from_the_secret() -> None:
    container = _container()
    secret = DOCS["Secret"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert {"GATEWAY_REDIS_URL", "GATEWAY_STORE_URL", "GATEWAY_MASTER_KEY"} <= set(secret["stringData"])
    assert secret["stringData"]["GATEWAY_STORE_URL"].startswith("postgresql+asyncpg://")
    plain_env = {e["name"] for e in container.get("env", [])}
    assert not plain_env & {"GATEWAY_MASTER_KEY", "GATEWAY_METRICS_TOKEN", "GATEWAY_STORE_URL"}


def test_probes_use_the_gateway_health_routes() -> None:
    container = _container()
    assert container["livenessProbe"]["httpGet"]["path"] == "/gateway/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/gateway/health/ready"
    port_names = {p["name"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names


def test_grace_period_covers_prestop_inflight_and_ledger_drain() -> None:
    spec = _pod()["spec"]
    command = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    in_flight = 30.0  # uvicorn's timeout_graceful_shutdown in custom_hooks/cli.py
    drain = LedgerSettings().drain_timeout_s
    assert spec["terminationGracePeriodSeconds"] > pre_stop + in_flight + drain


def test_pod_is_non_root_and_bounded() -> None:
    spec = _pod()["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    container = _container()
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_prometheus_annotations_point_at_the_metrics_port() -> None:
    annotations = _pod()["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) in {p["containerPort"] for p in _container()["ports"]}


def test_configmap_is_the_shipped_config_and_is_mounted_where_the_gateway_reads_it() -> None:
    configmap = DOCS["ConfigMap"]
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert yaml.safe_load(configmap["data"]["config.yaml"]) == shipped, "run `make k8s-configmap`"
    container = _container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    volumes = {v["name"]: v for v in _pod()["spec"]["volumes"]}
    mount = next(m for m in container["volumeMounts"] if "configMap" in volumes[m["name"]])
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert env["GATEWAY_CONFIG"] == f"{mount['mountPath']}/config.yaml"
    assert env["GATEWAY_HOST"] == "0.0.0.0"
