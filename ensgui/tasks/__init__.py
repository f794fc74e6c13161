"""Tasks: every long job (a run, a sweep, an interpolation, a width measurement) as one Qt-free function.

A task takes an engine.task_state.TaskState (events out, stop flag in, progress with phase and ETA) and wires the
engine to storage. The CLI, the GUI's worker thread and a cluster backend all call the same tasks.
"""
