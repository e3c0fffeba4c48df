"""Write configmap.yaml: the repository's config.yaml as the ConfigMap the Deployment mounts.

python deploy/kubernetes/render_configmap.py      # or: make k8s-configmap
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = """# Generated from config.yaml by deploy/kubernetes/render_configmap.py (make k8s-configmap).
apiVersion: v1
kind: ConfigMap
metadata:
  name: agent-gateway-config
  labels: {app.kubernetes.io/name: agent-gateway}
data:
  config.yaml: |
"""


def render(config: Path = HERE.parents[1] / "config.yaml") -> str:
    body = "".join(f"    {line}" if line.strip() else "\n" for line in config.read_text().splitlines(True))
    return HEADER + body


if __name__ == "__main__":
    (HERE / "configmap.yaml").write_text(render())
