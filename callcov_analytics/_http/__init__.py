"""The HTTP exchange and its pacing: the client, rate-limit and gateway limits, the budget."""
