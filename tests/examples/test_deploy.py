"""examples/deploy: the image, the compose stack and the Kubernetes manifests, checked offline.

No container engine runs here, so the Dockerfile is linted for its structure (a build stage that
compiles fastpath and refuses a pure-Python build, a runtime stage without a compiler, a non-root
USER, a HEALTHCHECK on /healthz) and the compose file for its services, healthchecks and startup
order. The Kubernetes manifests are validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, bundled, strict: unknown fields fail) and against each other and the
gateway's config: probes, ports, the grace period against server.drain_timeout_s, selectors.
The Grafana dashboard may only query series the gateway exports (edge/metrics.py).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from edge.config import load_config
from edge.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
KUBE = DEPLOY / "kubernetes"
ENV = {"EDGE_LEDGER_URL": "postgresql://edge:pw@postgres/edge", "EDGE_REDIS_URL": "redis://redis:6379/0", "EDGE_ADMIN_KEY": "sk-admin-0123456789abcdef"}
SECRET_NAME = "llm-edge-secrets"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile line, continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in _instructions(path):
        if word == "FROM":
            parts = rest.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", f"every stage is named: FROM {rest}"
            current = parts[2]
            stages[current] = [(word, rest)]
        elif current is not None:
            stages[current].append((word, rest))
    return stages


def test_dockerfile_is_multi_stage_compiled_non_root_with_a_healthcheck() -> None:
    stages = _stages(DEPLOY / "Dockerfile")
    assert list(stages) == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    runs = " ".join(rest for word, rest in build if word == "RUN")
    assert "build-essential" in runs and "pip wheel" in runs  # a compiler, and setup.py's Cython build
    # The build refuses an image that fell back to the pure-Python twins.
    assert "IMPLEMENTATION" in runs and "'c'" in runs and "assert" in runs
    assert "EDGE_NO_EXTENSIONS" not in (DEPLOY / "Dockerfile").read_text()
    copied = [rest for word, rest in build if word == "COPY"]
    for folder in ("edge", "adapters", "fastpath", "proto"):
        assert any(rest.split()[0] == folder for rest in copied), f"the build stage copies {folder}/"
    # The runtime stage installs the wheels made in the build stage, and no compiler.
    assert any(word == "COPY" and rest.startswith("--from=build") for word, rest in runtime)
    assert "build-essential" not in " ".join(rest for _, rest in runtime)
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert runtime.index(("USER", users[-1])) > max(i for i, (w, _) in enumerate(runtime) if w == "RUN"), "USER comes after the last RUN"
    (health,) = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert "/healthz" in health and "CMD" in health
    entry = [json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT"][-1]
    assert entry[:2] == ["edge", "serve"] and "/etc/edge/edge.yaml" in entry
    assert any(word == "COPY" and "examples/deploy/edge.yaml /etc/edge/edge.yaml" in rest for word, rest in runtime)
    ports = {int(p) for word, rest in runtime if word == "EXPOSE" for p in rest.split()}
    config = load_config(DEPLOY / "edge.yaml", env=ENV)
    assert ports == {config.server.port, config.server.grpc_port}
    # The build context keeps what the build copies (Dockerfile.dockerignore beside it).
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("**") + 1:] and all(f"!{d}/" in ignore for d in ("edge", "adapters", "fastpath", "proto"))


def test_the_deploy_config_loads_and_shares_state() -> None:
    config = load_config(DEPLOY / "edge.yaml", env=ENV)
    assert config.server.host == "0.0.0.0" and config.server.workers == 2
    assert config.state.ledger.startswith("postgresql://") and config.state.redis.startswith("redis://")
    assert config.keys.admin == ENV["EDGE_ADMIN_KEY"]
    assert config.tracing.enabled is False  # on with OTEL_EXPORTER_OTLP_ENDPOINT, as compose sets it
    assert load_config(DEPLOY / "edge.yaml", env={**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}).tracing.endpoint == "http://jaeger:4318/v1/traces"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_two_instances_behind_a_balancer_with_shared_state() -> None:
    services = _compose()["services"]
    assert {"edge-1", "edge-2", "lb", "redis", "postgres", "prometheus", "grafana"} <= set(services)
    for name in services:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has a healthcheck"
    for name in ("edge-1", "edge-2"):
        edge = services[name]
        assert edge["build"]["dockerfile"] == "examples/deploy/Dockerfile"
        assert (DEPLOY / edge["build"]["context"] / edge["build"]["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
        assert edge["depends_on"] == {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
        env = edge["environment"]
        assert "@postgres:5432/" in env["EDGE_LEDGER_URL"] and env["EDGE_REDIS_URL"].startswith("redis://redis:")
        assert "/readyz" in " ".join(edge["healthcheck"]["test"])
        assert "ports" not in edge  # reached through the balancer only
        # Docker stops with SIGTERM and kills after stop_grace_period: at least the drain.
        config = load_config(DEPLOY / "edge.yaml", env=ENV)
        assert int(edge["stop_grace_period"].rstrip("s")) > config.server.drain_timeout_s
    assert services["lb"]["depends_on"] == {"edge-1": {"condition": "service_healthy"}, "edge-2": {"condition": "service_healthy"}}
    assert "8080:8080" in services["lb"]["ports"]
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    # Every file a service mounts exists here.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_the_balancer_and_prometheus_reach_both_instances() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    http = re.search(r"upstream edge_http \{(.*?)\}", nginx, re.S)
    grpc = re.search(r"upstream edge_grpc \{(.*?)\}", nginx, re.S)
    assert http and grpc
    assert re.findall(r"server (edge-\d):8080", http.group(1)) == ["edge-1", "edge-2"]
    assert re.findall(r"server (edge-\d):50051", grpc.group(1)) == ["edge-1", "edge-2"]
    assert "proxy_buffering off;" in nginx  # SSE chunks are not held back
    assert nginx.count("{") == nginx.count("}")
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["edge-1:8080", "edge-2:8080"] and job["metrics_path"] == "/metrics"


def _exported_series() -> set[str]:
    names = set()
    for family in Metrics().families:
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}[family.kind]
        names.update(family.name + s for s in suffixes)
    return names


def test_the_grafana_dashboard_queries_only_series_the_gateway_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "llm-edge.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bedge_[a-z_]+", e)}
    exported = _exported_series()
    assert used and used <= exported, f"not exported: {used - exported}"
    # Every family the gateway exports is on the dashboard somewhere.
    assert {n.removesuffix("_total").removesuffix("_bucket") for n in used} >= {f.name for f in Metrics().families}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())["datasources"][0]
    assert all(p["datasource"]["uid"] == datasource["uid"] for p in dashboard["panels"])
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "llm-edge.yaml").read_text())["providers"][0]
    grafana = _compose()["services"]["grafana"]
    assert any(v.endswith(":" + provider["options"]["path"] + ":ro") for v in grafana["volumes"])


def _manifests() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.utils.latest_version()])
def test_the_manifests_are_valid_kubernetes(version: str) -> None:
    docs = _manifests()
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_catches_a_misspelt_field() -> None:
    deployment = _manifests()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.29", strict=True)


def test_the_manifests_agree_with_each_other_and_the_config() -> None:
    docs = _manifests()
    deployment, service = docs["Deployment"], docs["Service"]
    configmap_text = docs["ConfigMap"]["data"]["edge.yaml"]
    assert configmap_text == (DEPLOY / "edge.yaml").read_text(), "kubernetes/configmap.yaml must carry examples/deploy/edge.yaml as it is"
    config = load_config(DEPLOY / "edge.yaml", env=ENV)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    target = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] > docs["PodDisruptionBudget"]["spec"]["minAvailable"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": config.server.port, "grpc": config.server.grpc_port}
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    assert (container["readinessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["port"]) == ("/readyz", "http")
    assert (container["livenessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["port"]) == ("/healthz", "http")
    # Graceful termination: preStop runs, then SIGTERM drains for drain_timeout_s; the kubelet's
    # SIGKILL must come after both.
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + config.server.drain_timeout_s + 5
    # Non-root, as the image's USER; secrets only by reference.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    runtime_user = [r for w, r in _stages(DEPLOY / "Dockerfile")["runtime"] if w == "USER"][-1]
    assert runtime_user.split(":")[0] == str(pod["securityContext"]["runAsUser"])
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {"EDGE_ADMIN_KEY", "EDGE_LEDGER_URL", "EDGE_REDIS_URL"} <= set(refs)
    assert {r["name"] for r in refs.values()} == {SECRET_NAME}
    assert not any(e.get("value", "").startswith(("sk-", "postgresql://", "redis://")) for e in container["env"])
    # Every ${VAR} without a default in the config is set by the pod.
    needed = set(re.findall(r"\$\{([A-Z_]+)\}", configmap_text))
    assert needed <= {e["name"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/edge" and pod["volumes"][0]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert "edge.yaml" in shlex.join(json.loads([r for w, r in _stages(DEPLOY / "Dockerfile")["runtime"] if w == "ENTRYPOINT"][-1]))
