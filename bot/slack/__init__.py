"""The Slack front end: bolt listeners, Block Kit builders, the notifier and the directory."""
