"""LangGraph agents served as OpenAI-compatible models, and the routes chat completions can't carry."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY_DISABLED", "true")
