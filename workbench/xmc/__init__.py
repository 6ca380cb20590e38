"""XMC data layer: datasets in the published layouts, the Debian dataset, metrics, encoders, token cache.

Map (one role per module): ``dataset`` the XMCDataset contract; ``errors`` DataFormatError + line reader;
``lf_json`` / ``raw_text`` / ``bow`` / ``arff`` the Extreme Classification Repository and Mulan layouts;
``load`` layout detection (``load_dataset``, ``load_mulan``); ``deb822`` + ``debian`` the Debian builder,
``default_dataset`` and ``dependency_graph``; ``synthetic`` scaling problems; ``stats`` dataset statistics;
``metrics`` P@k/nDCG@k/PSP@k/PSnDCG@k/R@k; ``topk`` exact top-k; ``encoder`` TextEncoder loaders; ``tokens`` the
token cache. Import from the modules (nothing heavy is imported here).
"""
