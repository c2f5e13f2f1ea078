"""The Channels tutorial's chat (https://channels.readthedocs.io/en/stable/tutorial/), the baseline.

Kept as the tutorial writes it, so the comparison measures what a typical Channels chat costs.
Differences, all outside the per-message path: no AuthMiddlewareStack and no
AllowedHostsOriginValidator (the benchmark sends no cookies and one Origin), a tiny settings
module, and /healthz so the launcher knows when the process is ready.
"""
