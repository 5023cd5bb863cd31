"""kidchat: a child-safe chat server."""
