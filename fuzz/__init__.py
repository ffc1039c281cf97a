"""Fuzzing the dataset loaders: the targets (:mod:`fuzz.targets`) and a timed campaign (:mod:`fuzz.campaign`)."""
