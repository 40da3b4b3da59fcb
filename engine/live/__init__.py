"""Live geometry: the probe set, the fixed 2-D class-mean basis, the simplex ETF maths."""
