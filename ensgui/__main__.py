"""Run ensgui as `python -m ensgui`."""

import sys

from .cli import main

sys.exit(main())
