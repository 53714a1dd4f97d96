"""Schema migrations and the database handle of the control plane."""
