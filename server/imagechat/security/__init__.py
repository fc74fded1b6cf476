"""The trust boundary: tenants, origins, hosts, tokens, sign-on, rate limits, connection caps, input checks."""
