"""Use cases. Each takes the acting user, checks permission and rules, and writes the record and its audit
entry in the caller's transaction (``session_scope``): all or nothing."""
