"""The tools the shipped agents call: web search, the knowledge base, side-effecting actions."""
