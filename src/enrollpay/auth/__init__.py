"""Sign-up, login, tokens, roles and login throttling."""
