"""Curvature tools (Hessian / GGN products, Lanczos, SLQ densities, Hutchinson) and the two spectra studies.

Map: hvp.py (matvecs from a model), lanczos.py, power.py, density.py, trace.py (array algorithms on any
matvec), models.py / data.py (registries), train.py, lr_search.py, fits.py, slq_learner.py, peers.py,
bench.py (HVP cost), experiments.py (study loops returning tidy rows), figures.py, study.py (configs).
"""
