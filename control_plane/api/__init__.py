"""What every HTTP route shares: authorisation, schemas, errors, limits."""
