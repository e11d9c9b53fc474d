"""What drives the system under test: the harness that plays a scenario, the load generator, the ledger."""
