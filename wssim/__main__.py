"""``python -m wssim`` runs the command line."""

from wssim.cli import app

if __name__ == "__main__":  # not when re-imported by a spawned worker process
    app(prog_name="wssim")
