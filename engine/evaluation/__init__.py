"""Evaluation of a run: the evaluator (accuracies, RUS, rMIA), restoration attacks, the audit
(measure, verdicts, cost) and the shadow-model ensembles (KLoM, U-LiRA)."""
