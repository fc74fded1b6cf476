"""Webhooks: each tenant's URLs receive a signed POST for every event of its images (README, "Webhooks")."""
