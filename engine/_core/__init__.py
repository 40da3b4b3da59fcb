"""The engine's foundation: errors, events, cancellation, devices, atomic file writes, the model cache.

Every other engine layer may import from here; nothing here imports another engine layer.
"""
