"""Knowledge bases: parsing, chunking, embeddings, vector store and retrieval."""
