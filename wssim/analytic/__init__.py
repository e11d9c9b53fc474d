"""Closed-form models that are not event-driven: the transports' cost per user, the fleet's monthly cost."""
