"""`python -m training.ppo`: a user mistake is one `python -m training.ppo: error: ...` line, exit code 2."""

import sys

from gliclass.cli import run_command

from ..engine import RUN_ERRORS
from .cli import main

if __name__ == "__main__":
    sys.exit(run_command(f"python -m {__package__}", main, RUN_ERRORS))
