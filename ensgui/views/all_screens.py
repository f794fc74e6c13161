"""Every screen and result panel of the window; importing a module registers what it defines."""

from . import (comparison_view, interpolation_view, monitor_view, results_view, runs_view,  # noqa: F401
               setup_view, sweep_view, weight_space_view)
from . import boosting_panel, run_margins_panel  # noqa: F401
