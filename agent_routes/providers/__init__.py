"""LiteLLM custom providers: ``agent/<name>`` and the offline ``demo`` model."""
