"""`/api` (spec §8): roles, grants, requests and the audit log for portals and agents, behind Cloudflare Access.

Every call carries a Cloudflare Access JWT (`Cf-Access-Jwt-Assertion`, else the `CF_Authorization`
cookie). A person is the token's `email`; a service token (`common_name`, no email) may read but not
request. People see their own grants and requests (approvers also the requests they decide); admins
(the policy's `admins` whose Slack profile email is the token's) see everything and read the audit.
Answers are JSON; an error is `{"error": code, "message": words}` with 400, 401, 403, 404, 422 or 503.
"""

from bot.api.routes import add_api_routes

__all__ = ["add_api_routes"]
