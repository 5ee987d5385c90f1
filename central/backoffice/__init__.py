"""The county's back office (后台办理): departments and their work queues, the workflow on a routed case (routing,
opinions, clock pauses, extension, decisions), deadlines and the background jobs that watch them, results
(决定书, e-licences, dispatch), remote support (远程帮办) and supervision (督查), with their pages and API.

The top of central's folders: depends on `central.cases` (every step is a central case event) and
`central.catalogue` (routing by the version a case was accepted under); nothing depends on it but the app."""
