"""Loopback emulators of influencers.club, Google Sheets/Drive, HubSpot, Slack and webhooks."""
