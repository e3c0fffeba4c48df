"""The gateway's plugins for the LiteLLM proxy: auth, budgets, routing, guardrails, ledger, metrics.

Each hook lives in its own module and is named in ``config.yaml`` by dotted path.
"""

from __future__ import annotations

import os

# Without this, `import litellm` fetches the model price map from the internet; set it
# before anything below imports litellm. An explicit operator setting wins.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY_DISABLED", "true")
