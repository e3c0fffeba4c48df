"""Metrics, request logs, traces, health and readiness."""
