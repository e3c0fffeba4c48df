"""The core every area builds on: errors, settings, config and its sections, the request record."""
