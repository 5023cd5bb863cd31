"""kidchat's training module (data -> spectrum -> SFT -> DPO -> GGUF -> eval)."""
