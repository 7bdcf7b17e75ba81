"""Every business rule lives here. Services take (session, actor, ..., clock),
flush but never commit, and raise `plaudit.errors.DomainError`s."""
