"""In-process fakes of Slack and Cloudflare, for tests and `accessbot demo`."""
