"""Runs: the JobSpec, the Runner (one stage per method), the RunRecord, preparing a dataset and original."""
