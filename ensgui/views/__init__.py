"""Qt views: one module per screen or plot; the only package (with app.py) that imports Qt."""
