"""LSH negative sampling (Daghaghi et al., ICML 2021) and its study ``notebooks/lsh_sampling.ipynb``.

hashing.py     SimHash / DWTA hash families (registry ``HASHES``): codes by matrix products
tables.py      compact tables (ids sorted by bucket + offsets, capped buckets) and ``LSHIndex`` (rehash, redraw)
probability.py inclusion log-probabilities (SimHash exact, DWTA estimated) and budget / padding corrections
query.py       union of a batch's buckets -> negatives with log_q (``lsh_negatives``)
params.py      ``LSHParams`` (the sampler's options) and ``build_index``
drawers.py     negative drawers compared in the study (uniform, log-uniform, exact softmax, LSH), registry ``DRAWERS``
bowdata.py     bag-of-words inputs: synthetic, Mulan, Debian, any XMC directory
softmax_model.py  sparse BoW -> hidden -> N-way model; full and sampled softmax losses
race.py        wall-clock-to-accuracy training of one method
adaptivity.py  hardness of sampled negatives vs the model's softmax
bench.py       constant-time benchmark (time per query vs number of labels)
experiments.py the study's experiments as functions of its config
study.py       ``LSHStudyConfig`` (the notebook's parameters); figures.py: the study's figures
The XMC sampler protocol wrapper is :mod:`workbench.samplers.lsh` (registered as ``"lsh"``).
"""
