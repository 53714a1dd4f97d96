"""CAP media core: frames, codecs, resampling, VAD, playout.

Pure and synchronous (the playout clock aside); imports nothing of ours.
"""
