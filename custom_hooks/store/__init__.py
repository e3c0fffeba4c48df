"""Where the gateway's state lives: the SQL store, its schema and migrations, Redis recovery."""
