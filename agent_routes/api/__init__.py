"""Routes chat completions can't carry (threads, approvals) and the Responses API for agents."""
