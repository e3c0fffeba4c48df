"""What a request meets first, before auth: the served surface, limits, body policy, model resolution."""
