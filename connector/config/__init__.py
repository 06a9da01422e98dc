"""Settings: the frozen model of the config file, its sections, loading and masking.

A leaf package: it imports no feature package, so every other package may depend on it.
"""

from connector.config.loading import (
    DEFAULT_CONFIG_PATH,
    interpolate,
    load_settings,
    parse_settings,
)
from connector.config.masking import mask_url, mask_urls, mask_value
from connector.config.sections import (
    PLATFORMS,
    AlertsSettings,
    ChannelSettings,
    CreditsSettings,
    DiscoverySearchSettings,
    DiscoverySettings,
    GoogleSettings,
    HubSpotSettings,
    HubSpotSourceSettings,
    InfluencersClubSettings,
    MediaSettings,
    PipelineSettings,
    Platform,
    Seconds,
    SettingsSection,
    SheetSourceSettings,
    SlackChannelSettings,
    SourceSettings,
    ThresholdSettings,
    WebhookChannelSettings,
    WebSettings,
    parse_duration,
)
from connector.config.settings import Settings, check_settings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "PLATFORMS",
    "AlertsSettings",
    "ChannelSettings",
    "CreditsSettings",
    "DiscoverySearchSettings",
    "DiscoverySettings",
    "GoogleSettings",
    "HubSpotSettings",
    "HubSpotSourceSettings",
    "InfluencersClubSettings",
    "MediaSettings",
    "PipelineSettings",
    "Platform",
    "Seconds",
    "Settings",
    "SettingsSection",
    "SheetSourceSettings",
    "SlackChannelSettings",
    "SourceSettings",
    "ThresholdSettings",
    "WebSettings",
    "WebhookChannelSettings",
    "check_settings",
    "interpolate",
    "load_settings",
    "mask_url",
    "mask_urls",
    "mask_value",
    "parse_duration",
    "parse_settings",
]
