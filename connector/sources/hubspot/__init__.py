"""The HubSpot source (hubspot-api-client): watch a list, batch-read contacts, write properties."""
