"""The admin API and CLI: keys, teams, spend reports, the config reference."""
