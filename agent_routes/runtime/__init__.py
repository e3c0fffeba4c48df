"""One agent run: registry, runner, threads and their leases, steps, errors, reporting."""
