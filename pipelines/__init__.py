"""CAP pipelines: the conversation engine, provider interfaces and adapters."""
