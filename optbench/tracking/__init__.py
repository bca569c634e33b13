"""Where results go: W&B (wandb_run), the local store (store), and the end-of-sweep table (summary)."""
