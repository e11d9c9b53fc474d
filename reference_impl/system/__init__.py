"""The system under test: the gateway, its backplanes, the L4 balancer, tokens and the wire protocol."""
