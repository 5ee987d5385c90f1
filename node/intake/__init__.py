"""Front-desk intake (一窗受理), by sub-domain: `hall` (tickets, flow, ratings, complaints), `cases` (receiving,
materials, the 容缺 rule, outcomes, issuing), `documents` (notices and the PDF door), `mail` (the logistics
window). The order between them is in `node`'s docstring."""
