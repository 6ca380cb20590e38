"""Training text-encoder XMC models with different negative samplers (the negative-mining study).

models.py (dual encoder + one-vs-all head), losses.py (decoupled softmax, triplet, BCE; registry), trainer.py
(resumable GPU-first loop, tidy rows), evaluate.py (exact top-k + metrics), clustering.py (balanced 2-means),
peers.py (Parabel via omikuji, most-popular), subsample.py, encoders.py (encoders by name, token tables),
study.py (config + data), stages.py (model, one sampler's training, classifier stages, memory
sweep), compare.py (the comparison runs), capacity.py (largest batch under a GPU memory cap),
bench.py (bare-encoder throughput), profile.py (operator profile of training steps), published.py (published
reference rows), tables.py, figures.py, toy.py (tiny text problem for tests).
The samplers themselves live in :mod:`workbench.samplers`.
"""
