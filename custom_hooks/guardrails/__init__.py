"""Guardrails: where a guardrail sees the request and the answer, one module per detector family."""
