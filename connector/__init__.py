"""connector: keeps Google Sheets and HubSpot enriched with creator data from influencers.club."""

__version__ = "0.1.0"
