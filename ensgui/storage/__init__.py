"""Storage: the HDF5 run file (layout, writer, reader) and the workspace folder of runs."""
