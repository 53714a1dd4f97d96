"""CAP media core: frames, codecs, resampling, VAD, playout. Pure and synchronous; imports nothing of ours."""
