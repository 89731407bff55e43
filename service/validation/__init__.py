"""``$validate``: check a client's resource against R4 and against this server's content."""
