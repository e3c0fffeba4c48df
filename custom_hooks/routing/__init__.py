"""Cost-aware routing: pricing, the routing decision, the response cache."""
