"""PagerDuty: the REST API v2 client behind the OnCall port."""
