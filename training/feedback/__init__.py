"""Human feedback on a model's labels: the command line (`cli.py`, `python -m training.feedback`),
the interactive session (`session.py`) and the feedback file format (`data.py`)."""
