"""Training and evaluation of kidchat's safety classifier (`kidchat safety train`, `kidchat safety eval`)."""
