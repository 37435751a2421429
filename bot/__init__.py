"""accessbot: just-in-time access to apps behind Cloudflare Access, approved in Slack."""

__version__ = "0.1.0"
