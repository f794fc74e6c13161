"""ensgui: a desktop lab for ensembles of neural networks."""

__version__ = "0.1.0"
