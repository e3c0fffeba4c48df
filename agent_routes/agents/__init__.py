"""The shipped agents' graphs (config.yaml names them through the one-line modules above)."""
