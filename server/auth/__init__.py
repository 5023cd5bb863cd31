"""Accounts and sessions: password hashing, session tokens, CSRF tokens, the secret key."""
