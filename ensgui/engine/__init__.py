"""The computing engine: data, models, schedules, methods, evaluation; free of Qt and h5py."""
