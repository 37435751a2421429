"""Cloudflare API adapter: Access groups and Access sessions over HTTP."""
