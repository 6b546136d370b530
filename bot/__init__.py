"""should-finetune: a Slack bot that decides whether to fine-tune, or what cheaper thing to try first."""
