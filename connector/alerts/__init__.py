"""Credits and alerts: the credit report, rules with hysteresis, channels, pre-flight holds."""
