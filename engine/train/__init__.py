"""Training: recipes, the optimisation loop, batched feature extraction, cached originals and retrains."""
