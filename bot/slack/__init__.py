"""Everything that speaks Slack: ids, forms, rendering within Slack's limits, Web API calls and listeners."""
