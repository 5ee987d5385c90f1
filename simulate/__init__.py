"""`onewindow simulate`: a county's working day played against the real product.

Central and every centre's node run as their own processes (as `onewindow demo` starts them); the driver here is
the hall — applicants, window clerks, the logistics desk, the centre lead, the county's reviewers and a courier —
and talks to them only over HTTP, the way tablets and back-office browsers do. Faults come on a schedule (a WAN
cut by a proxy between a node and central, a centre with no WAN synced by courier file, a killed node, a central
restart), and the day's report accounts for every applicant at central.

Modules, lowest first: `proxy` (the WAN between a node and central), `plan` (the seeded day: who comes when,
wanting what), `stage` (the county on disk and its processes), `http` (a clerk's HTTP session that survives a
restarting server), `day` (the driver), `report` (JSON and HTML), `run` (the command).

It may import `protocol`, `common` and `provisioning` (to provision the county as the county's admin would), never
`node` or `central`: what it knows of them it learns over HTTP (tests/test_layering.py).
"""
