"""The county's catalogue (事项目录) and working-day calendar as central manages them: catalogue changes (事项调整)
signed into new versions, the calendar published, each sent down to every enrolled node, with their pages.

Depends only on central's root modules (the down log, the county keys); `county` (a lead's 即办件 authorities)
and `backoffice` (routing by the version a case was accepted under) read it."""
