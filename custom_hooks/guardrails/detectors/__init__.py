"""The detectors: pure functions from text to findings, one module per family."""
