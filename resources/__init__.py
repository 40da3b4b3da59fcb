"""Studio resources (style sheet, icons), read with importlib.resources."""
