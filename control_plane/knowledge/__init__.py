"""Knowledge bases in the control plane: records per organisation, the HTTP API
over rag/'s KnowledgeService, the ``cap kb`` command, and the retriever that
puts an agent's knowledge into its turns."""
