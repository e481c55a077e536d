"""Human feedback on a model's labels: the command line (`cli.py`, `python -m training.feedback`),
the interactive session (`session.py`), the feedback file format (`data.py`), and the local web
page (`web.py` with `page.*`, the shared queue `text_queue.py`, the asking order `ordering.py`,
model scores `scoring.py`, its screenshot `screenshot.py`)."""
