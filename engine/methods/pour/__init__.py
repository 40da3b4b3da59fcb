"""POUR: representation unlearning via neural collapse (POUR-P, closed form; POUR-D, distillation)."""
