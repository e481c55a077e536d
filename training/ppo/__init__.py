"""PPO fine-tuning from rewards: the command line (`cli.py`, `python -m training.ppo`), the trainer
(`trainer.py`), its objective (`objective.py`), rewards (`rewards.py`) and episodes (`episodes.py`)."""
