"""``python -m wssim`` runs the command line."""

from wssim.cli import app

app(prog_name="wssim")
