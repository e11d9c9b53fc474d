"""The teaching suite's library: one module per notebook chapter, plus what every chapter shares.

=================  ======================================================================
module             its one job
=================  ======================================================================
exercises          predict, run, compare: a prediction next to the model's answer, hidden
                   until asked for
widgets            the interactive cell: controls that re-run a small simulation and redraw
lab                ``wssim lab``: JupyterLab on the notebooks
answer_key         the answers the notebooks print, for the facilitator's guide
tour, budget, …    the analysis of one chapter each, so that a notebook's cells stay short
=================  ======================================================================
"""
