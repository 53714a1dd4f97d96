"""Provider interfaces (STT, LLM, TTS) and their adapters."""
